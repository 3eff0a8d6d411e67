//! `pipectl publish`: a component into an OCI registry or layout.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use pipectl_registry::artifact::annotations;
use pipectl_registry::{PublishRequest, PublishStatus, referrers};
use serde::Serialize;

use crate::Outcome;
use crate::cli::hooks::{artifact, dispatch};
use crate::cli::opts::PublishArgs;
use crate::cli::output::{Format, print_json, print_text};
use pipectl_hooks::Event;

#[derive(Serialize)]
struct Report<'a> {
    #[serde(flatten)]
    report: crate::cli::json::Published<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    signature: Option<&'a crate::cli::trust::Signed>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    attestations: &'a [crate::cli::attest::Attached],
}

/// Runs `pipectl publish`.
pub fn run(args: PublishArgs) -> anyhow::Result<Outcome> {
    // A bad key is refused before anything is published.
    let key = match &args.key {
        Some(spec) => Some(crate::cli::keys::load_signing_key(spec)?),
        None => None,
    };
    let mut ctx = crate::cli::registry::context(&args.registry)?;
    ctx.scope_credentials_to(&args.reference);
    // A regular file no larger than a layer may be: a FIFO or a device
    // is refused, not read forever.
    let bytes =
        pipectl_io::read_regular(&args.file, args.registry.access.max_blob_size, "component")?;
    let mut ann = BTreeMap::new();
    let mut world = args.world.clone();
    if let Some(path) = &args.manifest {
        let m = pipectl_manifest::Manifest::load(path)?;
        let mut set = |k: &str, v: &Option<String>| {
            if let Some(v) = v {
                ann.insert(k.to_string(), v.clone());
            }
        };
        set(annotations::DESCRIPTION, &m.description);
        set(annotations::SOURCE, &m.source);
        set(annotations::LICENSES, &m.license);
        world.get_or_insert(m.world.clone());
    }
    for (key, value) in [
        (annotations::DESCRIPTION, &args.description),
        (annotations::SOURCE, &args.source),
        (annotations::REVISION, &args.revision),
        (annotations::LICENSES, &args.licenses),
    ] {
        if let Some(v) = value {
            ann.insert(key.to_string(), v.clone());
        }
    }
    for kv in &args.annotation {
        match kv.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => {
                ann.insert(k.trim().to_string(), v.to_string());
            }
            _ => {
                return Err(crate::cli::failure::Usage(format!(
                    "--annotation `{kv}`: expected `KEY=VALUE`"
                ))
                .into());
            }
        }
    }
    // A composed pipeline records its stages; publish them with it.
    let composed = pipectl_compose::read_metadata(&bytes);
    if args.attest && composed.is_none() {
        return Err(crate::cli::failure::Usage(format!(
            "--attest: `{}` is not a composed pipeline (it records no stages to describe)",
            args.file.display()
        ))
        .into());
    }
    if let Some(meta) = composed.clone() {
        let stages: Vec<String> = meta
            .stages
            .iter()
            .map(|s| format!("{}={}", s.name, s.digest))
            .collect();
        ann.insert(annotations::STAGES.to_string(), stages.join(","));
        world.get_or_insert(meta.world);
    }
    // The hooks see the artifact as it would be published; `proceed-with`
    // annotations are added to it.
    let before = dispatch(&Event::BeforePublish(artifact(
        &args.reference,
        &bytes,
        &ann,
        world.as_deref(),
    )))?;
    for a in before.annotations {
        ann.insert(a.key, a.value);
    }
    let published = artifact(&args.reference, &bytes, &ann, world.as_deref());
    let file_name = args
        .file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "component.wasm".to_string());
    let report = pipectl_registry::publish(
        &ctx,
        PublishRequest {
            bytes,
            file_name,
            reference: args.reference.clone(),
            annotations: ann,
            world,
            force: args.force,
        },
    )?;
    let signed = match &key {
        Some(key) => {
            let mut subject = referrers::resolve_subject(&ctx, &args.reference)?;
            anyhow::ensure!(
                subject.digest == report.manifest,
                "`{}` moved to {} after it was published; it is not signed",
                report.reference,
                subject.digest
            );
            Some(crate::cli::trust::sign(&ctx, &mut subject, key, false)?)
        }
        None => None,
    };
    let attestations = match (&composed, args.attest) {
        (Some(meta), true) => {
            let mut subject = referrers::resolve_subject(&ctx, &args.reference)?;
            crate::cli::attest::attach(&ctx, &mut subject, meta, &report.layer, key.as_ref())?
        }
        _ => Vec::new(),
    };
    dispatch(&Event::AfterPublish(published))?;
    match args.format {
        Format::Json => print_json(
            true,
            &Report {
                report: (&report).into(),
                signature: signed.as_ref(),
                attestations: &attestations,
            },
        )?,
        Format::Human => {
            let mut out = String::new();
            let what = match report.status {
                PublishStatus::Published => "published",
                PublishStatus::Unchanged => "unchanged (already published with these bytes)",
                PublishStatus::Replaced => "replaced (--force)",
            };
            let _ = writeln!(out, "{} {what}", report.reference);
            let _ = writeln!(out, "  manifest: {}", report.manifest);
            let _ = writeln!(out, "  layer:    {} ({} bytes)", report.layer, report.size);
            if let Some(signed) = &signed {
                let _ = writeln!(out, "  signer:   {}", signed.fingerprint);
                let _ = writeln!(out, "  referrer: {} ({})", signed.referrer, signed.status);
            }
            for a in &attestations {
                let how = if a.signed { "signed" } else { "unsigned" };
                let _ = writeln!(
                    out,
                    "  {:<9} {} ({how}, {})",
                    format!("{}:", a.kind),
                    a.referrer,
                    a.status
                );
            }
            print_text(&out)?;
        }
    }
    Ok(Outcome::Ok)
}

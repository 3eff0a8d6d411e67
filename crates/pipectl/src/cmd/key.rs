//! `pipectl key`: ECDSA P-256 key pairs in the PEM formats openssl and
//! cosign read.

use std::fmt::Write as _;

use anyhow::bail;
use pipectl_trust::SigningKey;
use serde::Serialize;

use crate::Outcome;
use crate::cli::opts::{KeyCommand, KeyGenerateArgs, KeyPublicArgs};
use crate::cli::output::{Format, print_json, print_text};

/// Runs `pipectl key …`.
pub fn run(command: KeyCommand) -> anyhow::Result<Outcome> {
    match command {
        KeyCommand::Generate(args) => generate(args),
        KeyCommand::Public(args) => public(args),
    }
}

#[derive(Serialize)]
struct Generated {
    private_key: String,
    public_key: String,
    fingerprint: String,
}

fn generate(args: KeyGenerateArgs) -> anyhow::Result<Outcome> {
    pipectl_io::name::check_component("key name", &args.name)?;
    let private = args.out.join(format!("{}.key", args.name));
    let public = args.out.join(format!("{}.pub", args.name));
    for path in [&private, &public] {
        if std::fs::symlink_metadata(path).is_ok() {
            bail!(
                "{} already exists; pipectl never overwrites a key (move it away first)",
                path.display()
            );
        }
    }
    let key = SigningKey::generate();
    let pem = key.to_pkcs8_pem()?;
    // The private key: 0600 whatever the umask, written atomically.
    pipectl_io::write_atomic(
        &private,
        pem.as_bytes(),
        pipectl_io::WriteOptions {
            replace_symlink: false,
            mode: Some(0o600),
            no_sync: false,
        },
    )?;
    let written = pipectl_io::write_atomic(
        &public,
        key.public().to_pem()?.as_bytes(),
        pipectl_io::WriteOptions::default(),
    );
    if let Err(e) = written {
        // Never leave half a pair.
        let _ = std::fs::remove_file(&private);
        return Err(e.into());
    }
    let report = Generated {
        private_key: private.display().to_string(),
        public_key: public.display().to_string(),
        fingerprint: key.public().fingerprint(),
    };
    match args.format {
        Format::Json => print_json(true, &report)?,
        Format::Human => {
            let mut out = String::new();
            let _ = writeln!(out, "private key: {} (keep it secret)", report.private_key);
            let _ = writeln!(out, "public key:  {}", report.public_key);
            let _ = writeln!(out, "fingerprint: {}", report.fingerprint);
            print_text(&out)?;
        }
    }
    Ok(Outcome::Ok)
}

#[derive(Serialize)]
struct Public {
    fingerprint: String,
    public_key_pem: String,
}

fn public(args: KeyPublicArgs) -> anyhow::Result<Outcome> {
    let key = crate::cli::keys::load_key(&args.key)?;
    let report = Public {
        fingerprint: key.fingerprint(),
        public_key_pem: key.to_pem()?,
    };
    match args.format {
        Format::Json => print_json(true, &report)?,
        Format::Human => print_text(&format!(
            "{}fingerprint: {}\n",
            report.public_key_pem, report.fingerprint
        ))?,
    }
    Ok(Outcome::Ok)
}

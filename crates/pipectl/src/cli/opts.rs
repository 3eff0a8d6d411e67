//! The raw command-line arguments, as clap parses them. Subcommands turn
//! these into the libraries' own option types; libraries never see clap.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use super::output::Format;

/// Check, diff, compose, publish and run WebAssembly component pipelines.
#[derive(Debug, Parser)]
#[command(
    name = "pipectl",
    version = crate::cli::version::SHORT,
    long_version = crate::cli::version::LONG,
    about,
    max_term_width = 100
)]
pub struct Cli {
    /// Print only errors on stderr: no warnings, notices or progress bars.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Say more on stderr: how each stage was loaded, registry retries.
    #[arg(short, long, global = true)]
    pub verbose: bool,
    /// Do not call the hooks of `pipectl.toml` (the project's or the
    /// user's); says so when there are some.
    #[arg(long, global = true)]
    pub no_hooks: bool,
    /// Append one JSON line per hook call to this file (default: `audit`
    /// in `pipectl.toml`).
    #[arg(long, global = true, value_name = "FILE")]
    pub audit: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The exit codes, the footer of every `--help`.
pub const EXIT_CODES: &str = "Exit codes: 0 ok; 1 a gate said no (findings, drift, a rejected input or stage, \
a denied capability, `--locked` drift, a refused re-publish, a failed verification or test); \
2 pipectl could not run (usage, I/O, parse, network). With `--format json` every outcome, \
errors included, is one JSON object on stdout with `ok` first; see docs/cli.md.";

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check components against WIT worlds: exports, imports, types, policy.
    Check(CheckArgs),
    /// Work with WIT packages: `pipectl wit diff OLD NEW`.
    #[command(subcommand)]
    Wit(WitCommand),
    /// Compose a pipeline's stages into one statically linked component.
    Compose(ComposeArgs),
    /// Run text through a composed component or a pipeline's stages.
    Run(RunArgs),
    /// Run case files of WAVE calls and expected values against components
    /// (exit 1 when a case fails).
    Test(TestArgs),
    /// Publish a component to an OCI registry or an OCI layout.
    Publish(PublishArgs),
    /// Fetch a component, verified, through the cache and `pipectl.lock`.
    Fetch(FetchArgs),
    /// Make and inspect signing keys (ECDSA P-256, PEM).
    #[command(subcommand)]
    Key(KeyCommand),
    /// Sign an artifact's manifest; the Sigstore bundle is pushed as its
    /// OCI referrer.
    Sign(SignArgs),
    /// Verify an artifact's signatures against trusted keys (exit 1 when
    /// none verifies).
    Verify(VerifyArgs),
    /// Shadow mode: run every input through a baseline and a candidate and
    /// gate the promotion (exit 1 when a threshold is crossed).
    Compare(CompareArgs),
    /// Show an artifact (manifest, layer, annotations, stages, referrers,
    /// signatures, SBOM and provenance, verified with `--key`) or a
    /// component file (digest, imports, exports, stages).
    Inspect(InspectArgs),
    /// Print a shell completion script: `pipectl completions bash >
    /// ~/.local/share/bash-completion/completions/pipectl`.
    Completions(CompletionsArgs),
    /// Write the man pages (roff): `pipectl.1` and one per subcommand.
    Man(ManArgs),
    /// Serve a pipeline over HTTP: POST a text, get the result; health,
    /// metrics, a bounded queue, hot reload, graceful shutdown.
    Serve(ServeArgs),
    /// Extend pipectl with components: hooks that run around `publish`,
    /// `compose`, `fetch` and `run` (and may veto them), and commands.
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// A command plugin: `pipectl <name> [ARGS...]` runs the component
    /// added as `<name>`, sandboxed.
    #[command(external_subcommand)]
    External(Vec<String>),
}

/// `pipectl serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// A pipeline manifest (`.toml`), whose stages the host chains, or a
    /// composed component (`.wasm`).
    #[arg(value_name = "PIPELINE.TOML|COMPONENT")]
    pub target: PathBuf,
    /// Where to listen.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub listen: std::net::SocketAddr,
    /// Allow listening on an address other than loopback (plain HTTP: put
    /// TLS in front).
    #[arg(long)]
    pub allow_remote: bool,
    /// Worker threads, each with live instances of every stage (default:
    /// one per core).
    #[arg(long, value_name = "N")]
    pub workers: Option<usize>,
    /// Requests that may wait for a worker; more are answered `503` with
    /// `Retry-After`.
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub queue: usize,
    /// Largest request body, e.g. `1MiB`; larger is answered `413`.
    #[arg(long, value_name = "SIZE", default_value = "1MiB",
          value_parser = pipectl_manifest::parse_size)]
    pub max_body: u64,
    /// Reload when the manifest or a stage's file changes (debounced);
    /// SIGHUP reloads either way.
    #[arg(long)]
    pub watch: bool,
    /// Log lines as text or as one JSON object per line.
    #[arg(long, value_enum, default_value_t = LogFormatArg::Text)]
    pub log_format: LogFormatArg,
    /// Grant a capability to every stage, on top of a manifest's grants.
    #[arg(long, value_name = "CAP", value_enum, value_delimiter = ',')]
    pub grant: Vec<GrantArg>,
    /// Preopen a host directory, read-only, for every stage: `HOST::GUEST`.
    #[arg(long, value_name = "HOST[::GUEST]")]
    pub dir: Vec<String>,
    /// Give every stage an environment variable.
    #[arg(long, value_name = "NAME=VALUE")]
    pub env: Vec<String>,
    #[command(flatten)]
    pub limits: LimitArgs,
}

/// `pipectl serve --log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormatArg {
    /// `pipectl serve: …` lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// `pipectl plugin`.
#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Check a component (a hook or a `wasi:cli/command`), pin it by digest
    /// and record it in `pipectl.toml`.
    Add(Box<PluginAddArgs>),
    /// List the recorded plugins: name, kind, events, digest, grants.
    List(PluginListArgs),
    /// Forget a plugin.
    Remove(PluginRemoveArgs),
    /// Print the hook contract (`pipectl:hooks@0.1.0`) to build hooks
    /// against.
    Wit,
}

/// `pipectl plugin add`.
#[derive(Debug, Args)]
pub struct PluginAddArgs {
    /// The component: a file, or a registry reference (`host/repo:tag`,
    /// `oci-layout:<dir>:tag`), fetched and verified like `pipectl fetch`.
    #[arg(value_name = "FILE|REF")]
    pub source: String,
    /// Its name (default: the file's or repository's name); a command
    /// plugin's subcommand.
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Grant a capability (deny by default). `runtime` covers what
    /// componentize-py and jco components import regardless.
    #[arg(long, value_name = "CAP", value_enum, value_delimiter = ',')]
    pub grant: Vec<GrantArg>,
    /// Preopen a host directory read-only for a command plugin:
    /// `HOST::GUEST`, or `HOST` (seen under the same path). A relative
    /// HOST is taken from the working folder when the command runs.
    #[arg(long, value_name = "HOST[::GUEST]")]
    pub dir: Vec<String>,
    /// As `--dir`, writable.
    #[arg(long, value_name = "HOST[::GUEST]")]
    pub dir_rw: Vec<String>,
    /// A hook that traps or times out is reported and skipped instead of
    /// failing the command.
    #[arg(long)]
    pub optional: bool,
    /// Record it in the user's `pipectl.toml` (the config folder) instead
    /// of the project's.
    #[arg(long)]
    pub global: bool,
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

/// `pipectl plugin list`.
#[derive(Debug, Args)]
pub struct PluginListArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

/// `pipectl plugin remove`.
#[derive(Debug, Args)]
pub struct PluginRemoveArgs {
    /// The plugin's name.
    #[arg(value_name = "NAME")]
    pub name: String,
    /// From the user's `pipectl.toml` instead of the project's.
    #[arg(long)]
    pub global: bool,
}

impl Command {
    /// Whether the command was asked for JSON output (errors then go to
    /// stdout as a JSON envelope too).
    pub fn json(&self) -> bool {
        let f = |format: &Format| *format == Format::Json;
        match self {
            Command::Check(a) => f(&a.format),
            Command::Wit(WitCommand::Diff(a)) => a.format == DiffFormat::Json,
            Command::Compose(a) => f(&a.format),
            Command::Run(a) => f(&a.format),
            Command::Test(a) => a.format == TestFormat::Json,
            Command::Publish(a) => f(&a.format),
            Command::Fetch(a) => f(&a.format),
            Command::Key(KeyCommand::Generate(a)) => f(&a.format),
            Command::Key(KeyCommand::Public(a)) => f(&a.format),
            Command::Sign(a) => f(&a.format),
            Command::Verify(a) => f(&a.format),
            Command::Inspect(a) => f(&a.format),
            Command::Compare(a) => a.format == CompareFormat::Json,
            Command::Plugin(PluginCommand::Add(a)) => f(&a.format),
            Command::Plugin(PluginCommand::List(a)) => f(&a.format),
            Command::Plugin(_) | Command::External(_) | Command::Serve(_) => false,
            Command::Completions(_) | Command::Man(_) => false,
        }
    }
}

/// `pipectl compare`.
#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The baseline: a component, a pipeline manifest, or a registry
    /// reference (fetched and verified, under the working folder's trust
    /// policy).
    #[arg(value_name = "BASELINE")]
    pub baseline: String,
    /// The candidate: a component, a pipeline manifest, or a registry
    /// reference.
    #[arg(value_name = "CANDIDATE")]
    pub candidate: String,
    /// The inputs: a file (one input, or one per line with `--lines`) or
    /// a folder (one input per file).
    #[arg(long, value_name = "FILE|DIR")]
    pub inputs: PathBuf,
    /// Each line of the `--inputs` file is one input.
    #[arg(long)]
    pub lines: bool,
    /// The most inputs, in percent, whose result may change (default 0:
    /// any change fails).
    #[arg(long, value_name = "PCT", default_value_t = 0.0)]
    pub max_diff: f64,
    /// The largest candidate p95 over baseline p95 latency.
    #[arg(long, value_name = "RATIO", default_value_t = 1.2)]
    pub max_p95_ratio: f64,
    /// How much slower the candidate's p95 may be before the ratio counts
    /// (microsecond jitter is not a regression).
    #[arg(long, value_name = "DURATION", default_value = "1ms",
          value_parser = pipectl_manifest::parse_duration)]
    pub p95_slack: std::time::Duration,
    /// The largest share of inputs on which the candidate may trap or hit
    /// a limit.
    #[arg(long, value_name = "RATE", default_value_t = 0.0)]
    pub max_trap_rate: f64,
    /// How many changed inputs to show.
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub show: usize,
    /// Grant a capability to both sides.
    #[arg(long, value_name = "CAP", value_enum, value_delimiter = ',')]
    pub grant: Vec<GrantArg>,
    #[command(flatten)]
    pub limits: LimitArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: CompareFormat,
    #[command(flatten)]
    pub registry: RegistryAccessArgs,
}

/// `pipectl compare --format`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum CompareFormat {
    /// Text for people.
    #[default]
    Human,
    /// One JSON document.
    Json,
    /// Markdown, for a pull-request comment.
    Markdown,
}

/// `pipectl inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// A component file, or an artifact: `host/repo:tag`,
    /// `host/repo@sha256:…`, `oci-layout:DIR:tag` or `ns:name@version`.
    #[arg(value_name = "REF|FILE")]
    pub target: String,
    /// A trusted public key to verify signatures and attestations with
    /// (PEM file, `env:VAR`, or `-`); repeatable.
    #[arg(long = "key", value_name = "PUB")]
    pub keys: Vec<String>,
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

/// `pipectl completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// `pipectl man`.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// The folder to write the pages into (default: print `pipectl.1` to
    /// stdout).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// `pipectl key …`.
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Write a new key pair: `NAME.key` (PKCS#8 PEM, mode 0600) and
    /// `NAME.pub` (SubjectPublicKeyInfo PEM), the formats openssl and
    /// `cosign verify --key` read. Existing files are never overwritten.
    Generate(KeyGenerateArgs),
    /// Print a key's public half and fingerprint.
    Public(KeyPublicArgs),
}

/// `pipectl key generate`.
#[derive(Debug, Args)]
pub struct KeyGenerateArgs {
    /// The folder to write the pair into.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub out: PathBuf,
    /// The files' base name.
    #[arg(long, value_name = "NAME", default_value = "pipectl")]
    pub name: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

/// `pipectl key public`.
#[derive(Debug, Args)]
pub struct KeyPublicArgs {
    /// The key: a PEM file (private or public), `env:VAR`, or `-` for stdin.
    #[arg(long, value_name = "KEY")]
    pub key: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

/// `pipectl check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Components to check: binary (`.wasm`) or text (`.wat`).
    #[arg(required = true, value_name = "COMPONENT")]
    pub components: Vec<PathBuf>,
    /// Where the worlds are defined: a WIT package directory, a `.wit` file,
    /// an encoded WIT package, or a directory of package directories.
    #[arg(long, value_name = "PATH")]
    pub wit: PathBuf,
    /// A world to check against, e.g. `plugin` or
    /// `example:text-transform/plugin@0.2.0`. Repeatable: a component passes
    /// when it satisfies any of them.
    #[arg(long = "world", required = true, value_name = "WORLD")]
    pub worlds: Vec<String>,
    #[command(flatten)]
    pub policy: PolicyArgs,
    /// Check types only: skip validating function bodies. Quicker, for CI
    /// loops that only need the WIT; a component with an invalid body
    /// passes, and the report says bodies were not validated.
    #[arg(long)]
    pub no_validate_bodies: bool,
    /// Components checked at once (default: the number of CPUs, at most 4). Each
    /// component's own validation uses more threads only when this is 1.
    #[arg(long, short = 'j', value_name = "N")]
    pub jobs: Option<std::num::NonZeroUsize>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    /// With `--format json`: the shape of pipectl 0.1 (one object for one
    /// component, an array for several, no envelope). Kept for one release.
    #[arg(long)]
    pub json_v1: bool,
}

/// What a plugin may import beyond its world (deny by default).
#[derive(Debug, Args, Clone, Default)]
pub struct PolicyArgs {
    /// Allow imports whose interface name matches this glob, e.g.
    /// `wasi:clocks/*`. Repeatable.
    #[arg(long = "allow-import", value_name = "GLOB")]
    pub allow_imports: Vec<String>,
    /// A policy file: `allow-imports = ["wasi:clocks/*"]`.
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
}

/// `pipectl compose`.
#[derive(Debug, Args)]
pub struct ComposeArgs {
    /// The pipeline manifest.
    #[arg(value_name = "PIPELINE.TOML")]
    pub manifest: PathBuf,
    /// Where to write the composed component; `-` writes it to stdout
    /// (the report then goes to stderr).
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
    /// Also write the equivalent WAC source here (and the generated
    /// sequencer components next to it), to audit the composition.
    #[arg(long, value_name = "FILE")]
    pub emit_wac: Option<PathBuf>,
    /// Output format of the report.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// Use only the cache for registry stages (no network).
    #[arg(long)]
    pub offline: bool,
    /// Fail when `pipectl.lock` would change.
    #[arg(long)]
    pub locked: bool,
    /// Replace a symbolic link at an output path (the link itself, never
    /// the file it points to); without it such an output is refused.
    #[arg(long)]
    pub force: bool,
    /// Write the composition's SBOM (CycloneDX, `<output>.cdx.json`) and
    /// SLSA provenance (an in-toto statement, `<output>.provenance.json`)
    /// next to the output; with `--sign`, DSSE-signed Sigstore bundles
    /// (`<output>.sbom.sigstore.json`, `<output>.provenance.sigstore.json`).
    #[arg(long)]
    pub attest: bool,
    /// With `--attest`: sign the statements with `--key`.
    #[arg(long, requires_all = ["key", "attest"])]
    pub sign: bool,
    /// The private key for `--sign`: a PEM file, `env:VAR`, or `-`.
    #[arg(long, value_name = "KEY", requires = "sign")]
    pub key: Option<String>,
    /// Expose the chain to other engines: `cli` (a `wasi:cli/run` command:
    /// stdin in, stdout out, a typed error on stderr and exit code 1),
    /// `cli-lines` (each line of stdin is one input) or `http` (a
    /// `wasi:http/incoming-handler` with `pipectl serve`'s contract).
    #[arg(long, value_enum, value_name = "ADAPTER")]
    pub adapter: Option<AdapterArg>,
    /// With `--adapter http`: the largest request body, baked into the
    /// component (larger gets `413`).
    #[arg(long, value_name = "SIZE", default_value = "1MiB", requires = "adapter",
          value_parser = pipectl_manifest::parse_size)]
    pub max_body: u64,
}

/// What `compose --adapter` wraps the chain in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AdapterArg {
    /// A `wasi:cli/run` command: the whole of stdin is one input.
    Cli,
    /// A `wasi:cli/run` command: each line of stdin is one input.
    CliLines,
    /// A `wasi:http/incoming-handler`: `POST` a text, get the output.
    Http,
}

impl ComposeArgs {
    /// The adapter to compose with, if any.
    pub fn adapter(&self) -> Option<pipectl_compose::Adapter> {
        self.adapter.map(|a| match a {
            AdapterArg::Cli => pipectl_compose::Adapter::Cli { lines: false },
            AdapterArg::CliLines => pipectl_compose::Adapter::Cli { lines: true },
            AdapterArg::Http => pipectl_compose::Adapter::Http {
                max_body: self.max_body,
            },
        })
    }
}

/// How to reach registries.
#[derive(Debug, Args, Clone)]
pub struct RegistryArgs {
    #[command(flatten)]
    pub access: RegistryAccessArgs,
    /// The cache folder (default: `$PIPECTL_CACHE_DIR` or `~/.cache/pipectl`).
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Give up a publish or a fetch (each registry stage, for `compose`)
    /// that takes longer than this, retries included, e.g. `5m`.
    #[arg(long, value_name = "DURATION", default_value = "300s",
          value_parser = pipectl_manifest::parse_duration)]
    pub timeout: std::time::Duration,
}

/// Which registries to trust and how to sign in: what `run` shares with
/// the registry commands (its `--cache-dir` and `--timeout` are its own).
#[derive(Debug, Args, Clone)]
pub struct RegistryAccessArgs {
    /// Allow plain HTTP to this registry (`host[:port]`); loopback
    /// registries are always allowed. Repeatable.
    #[arg(long, value_name = "HOST")]
    pub insecure: Vec<String>,
    /// The registry user name (with `--password-stdin`).
    #[arg(long, value_name = "USER", requires = "password_stdin")]
    pub username: Option<String>,
    /// Read the registry password from stdin.
    #[arg(long, requires = "username")]
    pub password_stdin: bool,
    /// The registry configuration (wkg's format; default:
    /// `$PIPECTL_CONFIG` or `~/.config/wasm-pkg/config.toml`).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Send a request again this many times when it failed for a transient
    /// reason (connection failed or broke off, HTTP 5xx or 429), waiting
    /// 250 ms and twice as long each next time.
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub retries: u32,
    /// The registry (`host[:port]`) that `--username`/`--password-stdin`
    /// and the unscoped `PIPECTL_REGISTRY_USERNAME`/`_PASSWORD`/`_TOKEN`
    /// are for (default: `PIPECTL_REGISTRY_HOST`, else, for `publish` and
    /// `fetch`, the registry of REF; never a registry a manifest names).
    #[arg(long, value_name = "HOST")]
    pub registry: Option<String>,
    /// Refuse a layer larger than this, before downloading it, e.g.
    /// `256MiB`.
    #[arg(long, value_name = "SIZE", default_value = "1GiB",
          value_parser = pipectl_manifest::parse_size)]
    pub max_blob_size: u64,
    /// Refuse a manifest, OCI index or page of tags larger than this.
    #[arg(long, value_name = "SIZE", default_value = "4MiB",
          value_parser = pipectl_manifest::parse_size)]
    pub max_manifest_size: u64,
}

impl RegistryArgs {
    /// `run`'s registry flags, with the default cache folder and timeout.
    pub fn from_access(access: RegistryAccessArgs) -> Self {
        Self {
            access,
            cache_dir: None,
            timeout: pipectl_registry::Limits::default().timeout,
        }
    }
}

/// `pipectl publish`.
#[derive(Debug, Args)]
pub struct PublishArgs {
    /// The component to publish.
    #[arg(value_name = "FILE.wasm")]
    pub file: PathBuf,
    /// Where: `host[:port]/repo:tag`, `oci-layout:<dir>:tag` or
    /// `namespace:name@version`. Tags must be semver.
    #[arg(value_name = "REF")]
    pub reference: String,
    /// Take the description, source, license and world from this pipeline
    /// manifest.
    #[arg(long, value_name = "PIPELINE.TOML")]
    pub manifest: Option<PathBuf>,
    /// `org.opencontainers.image.description`.
    #[arg(long)]
    pub description: Option<String>,
    /// `org.opencontainers.image.source` (a URL).
    #[arg(long)]
    pub source: Option<String>,
    /// `org.opencontainers.image.revision` (e.g. a commit).
    #[arg(long)]
    pub revision: Option<String>,
    /// `org.opencontainers.image.licenses` (SPDX).
    #[arg(long)]
    pub licenses: Option<String>,
    /// Any manifest annotation, `KEY=VALUE` (e.g. a change ticket);
    /// repeatable. Wins over the flags above for the same key.
    #[arg(long, value_name = "KEY=VALUE")]
    pub annotation: Vec<String>,
    /// The world the component targets (recorded in the config).
    #[arg(long)]
    pub world: Option<String>,
    /// Replace a version that holds different bytes.
    #[arg(long)]
    pub force: bool,
    /// Sign the published manifest (as `pipectl sign` does) with `--key`.
    #[arg(long, requires = "key")]
    pub sign: bool,
    /// The private key for `--sign`: a PEM file, `env:VAR`, or `-`.
    #[arg(long, value_name = "KEY", requires = "sign")]
    pub key: Option<String>,
    /// For a composed component: attach its SBOM (CycloneDX) and
    /// provenance (in-toto, SLSA v1) as referrers of the manifest; with
    /// `--sign`, as DSSE-signed statements, as `cosign attest` does.
    #[arg(long)]
    pub attest: bool,
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

/// `pipectl fetch`.
#[derive(Debug, Args)]
pub struct FetchArgs {
    /// What: `host/repo:tag`, `host/repo@sha256:...`, `host/repo:^0.2`,
    /// `oci-layout:<dir>:tag`, or `namespace:name@^0.2`.
    #[arg(value_name = "REF")]
    pub reference: String,
    /// Where to write the component (default: `<name>-<version>.wasm`);
    /// `-` writes it to stdout (the report then goes to stderr).
    #[arg(short, long, value_name = "FILE", conflicts_with = "to")]
    pub output: Option<PathBuf>,
    /// Copy the artifact (manifest, config, layer, byte for byte) into this
    /// OCI layout instead, tagged with its version: an offline mirror.
    #[arg(long, value_name = "oci-layout:DIR")]
    pub to: Option<String>,
    /// With `--to`: copy its referrers too (signatures, SBOM, provenance),
    /// so the mirror verifies without the registry.
    #[arg(long, requires = "to")]
    pub with_referrers: bool,
    /// Use only the cache and the lockfile: no network.
    #[arg(long)]
    pub offline: bool,
    /// Fail when the lockfile would change.
    #[arg(long)]
    pub locked: bool,
    /// The lockfile (default: `pipectl.lock`).
    #[arg(long, value_name = "FILE", default_value = "pipectl.lock")]
    pub lockfile: PathBuf,
    /// Do not record the fetch in the lockfile.
    #[arg(long, conflicts_with = "locked")]
    pub no_lock: bool,
    /// Replace a symbolic link at the output path (the link itself, never
    /// the file it points to); without it such an output is refused.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

/// A capability `pipectl run --grant` gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GrantArg {
    /// `wasi:clocks/*`.
    Clocks,
    /// `wasi:random/*`.
    Random,
    /// `wasi:cli/*` stdio (a plugin's stdout goes to stderr).
    Stdio,
    /// `wasi:filesystem/*` with no directory (`--dir` adds some).
    Filesystem,
    /// `wasi:sockets/*`, every address refused.
    Sockets,
    /// `wasi:http/*`, every request refused.
    Http,
    /// What language runtimes (componentize-py, jco) import whether they
    /// use it or not: stdio, clocks, random, and filesystem (no directory),
    /// sockets and http linked with everything refused.
    Runtime,
}

impl GrantArg {
    /// The grant it names.
    pub fn grant(self) -> pipectl_manifest::Grant {
        use pipectl_manifest::Grant;
        match self {
            GrantArg::Clocks => Grant::Clocks,
            GrantArg::Random => Grant::Random,
            GrantArg::Stdio => Grant::Stdio,
            GrantArg::Filesystem => Grant::Filesystem,
            GrantArg::Sockets => Grant::Sockets,
            GrantArg::Http => Grant::Http,
            GrantArg::Runtime => Grant::Runtime,
        }
    }
}

/// `pipectl run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// A composed component (`.wasm`), or a pipeline manifest (`.toml`)
    /// whose stages the host chains.
    #[arg(
        value_name = "COMPONENT|PIPELINE.TOML",
        required_unless_present = "plugins"
    )]
    pub target: Option<PathBuf>,
    /// Run every component in this folder, in the order of its
    /// `pipeline.toml`; a folder without one is refused unless
    /// `--order-by-name`.
    #[arg(long, value_name = "DIR", conflicts_with = "target")]
    pub plugins: Option<PathBuf>,
    /// With `--plugins` and no `pipeline.toml`: run the components in
    /// file-name order.
    #[arg(long, requires = "plugins")]
    pub order_by_name: bool,
    /// With `--plugins`: apply the capability grants of the folder's
    /// `pipeline.toml` (by default they are ignored, with a warning: the
    /// folder's manifest is not the operator's word). Naming a manifest as
    /// the target applies its grants.
    #[arg(long, requires = "plugins")]
    pub trust_manifest: bool,
    /// Read the input from this file instead of stdin.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["input_dir"])]
    pub input: Option<PathBuf>,
    /// Run each file in this folder as one input.
    #[arg(long, value_name = "DIR")]
    pub input_dir: Option<PathBuf>,
    /// With `--input-dir`: write each result to a file of the same name here.
    #[arg(long, value_name = "DIR", requires = "input_dir")]
    pub output_dir: Option<PathBuf>,
    /// Each line of the input is one input; each result is one line: a
    /// result's backslashes, line feeds and carriage returns are written as
    /// `\\`, `\n` and `\r`, so one line is always one result.
    #[arg(long, conflicts_with = "input_dir")]
    pub lines: bool,
    /// Run every input and report every failure (default: stop at the first).
    #[arg(long)]
    pub keep_going: bool,
    /// Failures (traps, limits) in a row before a stage is stopped.
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub max_restarts: u32,
    /// A fresh instance of every stage for every input (no state kept).
    #[arg(long)]
    pub stateless: bool,
    /// What to call in a single component: `transform`, or
    /// `<resource>.<method>` such as `running-counter.count`.
    #[arg(long, value_name = "SPEC")]
    pub call: Option<String>,
    /// Worker threads for batches (default: one per core; at most 256, and
    /// never more than there are inputs).
    #[arg(long, value_name = "N")]
    pub workers: Option<usize>,
    /// Grant a capability to every stage, on top of a manifest's grants.
    /// `sockets` and `http` only link those interfaces with every address
    /// or request refused, for toolchains (componentize-py, jco) whose
    /// components import them regardless: never network access.
    #[arg(long, value_name = "CAP", value_enum, value_delimiter = ',')]
    pub grant: Vec<GrantArg>,
    /// Preopen a host directory, read-only, for every stage: `HOST::GUEST`,
    /// or `HOST` to show it to the guest under the same path.
    #[arg(long, value_name = "HOST[::GUEST]")]
    pub dir: Vec<String>,
    /// Give every stage an environment variable.
    #[arg(long, value_name = "NAME=VALUE")]
    pub env: Vec<String>,
    #[command(flatten)]
    pub limits: LimitArgs,
    /// Print a per-stage table (calls, latency, traps, limit hits) at the end.
    #[arg(long)]
    pub stats: bool,
    /// Write the per-stage statistics as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub stats_json: Option<PathBuf>,
    /// The download cache for a manifest's registry stages, as for
    /// `compose` and `fetch` (default: `$PIPECTL_CACHE_DIR` or
    /// `~/.cache/pipectl`).
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Where precompiled components are cached (default: `compiled/` in
    /// the cache folder).
    #[arg(long, value_name = "DIR")]
    pub compiled_cache: Option<PathBuf>,
    /// Do not read or write the precompiled-component cache.
    #[arg(long, conflicts_with = "compiled_cache")]
    pub no_compiled_cache: bool,
    /// Registry stages of a manifest: use only the download cache and
    /// `pipectl.lock`, no network.
    #[arg(long)]
    pub offline: bool,
    /// Registry stages of a manifest: fail when `pipectl.lock` would change.
    #[arg(long)]
    pub locked: bool,
    /// How to reach the registries of a manifest's registry stages.
    #[command(flatten)]
    pub registry: RegistryAccessArgs,
    /// Replace a symbolic link at an output path (`--output-dir` files,
    /// `--stats-json`): the link itself, never the file it points to;
    /// without it such an output is refused.
    #[arg(long)]
    pub force: bool,
    /// `json`: one JSON object: `ok`, and one result per input (its
    /// `output_text` or its `error`, and the time) instead of the outputs.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

/// Limits for every stage: ceilings a manifest's limits may lower, never
/// raise.
#[derive(Debug, Args, Clone, Default)]
pub struct LimitArgs {
    /// Wall-clock time per call, e.g. `500ms`, `2s`; a bare number is
    /// milliseconds, as in a manifest (default 10s).
    #[arg(long, value_name = "DURATION", value_parser = pipectl_manifest::parse_duration)]
    pub timeout: Option<std::time::Duration>,
    /// Fuel per call (roughly, wasm instructions); off by default.
    #[arg(long, value_name = "N")]
    pub fuel: Option<u64>,
    /// Linear memory per instance, e.g. `64MiB` (default 256MiB).
    #[arg(long, value_name = "SIZE", value_parser = pipectl_manifest::parse_size)]
    pub max_memory: Option<u64>,
    /// Output size per call, e.g. `1MiB` (default 64MiB).
    #[arg(long, value_name = "SIZE", value_parser = pipectl_manifest::parse_size)]
    pub max_output: Option<u64>,
}

/// `pipectl wit ...`.
#[derive(Debug, Subcommand)]
pub enum WitCommand {
    /// Diff two releases of a WIT package: classify every change, compute
    /// the semver bump it needs, fail on drift.
    Diff(WitDiffArgs),
}

/// `pipectl wit diff`.
#[derive(Debug, Args)]
pub struct WitDiffArgs {
    /// The old release: a WIT directory (with `deps/`), a `.wit` file, an
    /// encoded WIT package or a component (`.wasm`), or `git:<rev>:<path>`.
    #[arg(value_name = "OLD")]
    pub old: String,
    /// The new release, in any of the same forms.
    #[arg(value_name = "NEW")]
    pub new: String,
    /// Whose effect counts for every interface, instead of the role the
    /// package's worlds give it.
    #[arg(long, value_enum)]
    pub role: Option<RoleArg>,
    /// Compare only this package (`ns:name`); repeatable. By default the
    /// packages the sources define are compared.
    #[arg(
        long = "package",
        value_name = "NS:NAME",
        conflicts_with = "all_packages"
    )]
    pub packages: Vec<String>,
    /// Compare every package, dependencies included (e.g. whole WASI trees).
    #[arg(long)]
    pub all_packages: bool,
    /// Compare `@unstable` items of these features (comma-separated).
    #[arg(long, value_delimiter = ',', value_name = "FEATURES")]
    pub features: Vec<String>,
    /// Compare every `@unstable` item.
    #[arg(long)]
    pub all_features: bool,
    /// When to exit 1: `breaking` (the version bump is too small, the
    /// version went down, or content changed under the same version), `any`
    /// finding, or `none`.
    #[arg(long, value_enum, default_value_t = FailOnArg::Breaking)]
    pub fail_on: FailOnArg,
    /// How breaks turn into the required bump. `guest` (the default, like
    /// `wasm-tools component semver-check`): `major` when a component built
    /// against the old release (importing or exporting) no longer fits;
    /// `minor`, with a warning, when only hosts are affected (they must
    /// provide more or can call less); `patch` for docs, layout and gates.
    /// `strict`: any break for any side, host or component, is `major`.
    #[arg(long, value_enum, default_value_t = PolicyArg::Guest)]
    pub policy: PolicyArg,
    /// Output format.
    #[arg(long, value_enum, default_value_t = DiffFormat::Human)]
    pub format: DiffFormat,
}

/// `--policy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PolicyArg {
    /// Major when components built against the old release break; minor
    /// when only hosts do.
    Guest,
    /// Major when anything breaks, hosts included.
    Strict,
}

/// `--role`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RoleArg {
    /// Components import the interfaces (the host implements them).
    Importer,
    /// Components export the interfaces.
    Exporter,
    /// Both.
    Both,
}

/// `--fail-on`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FailOnArg {
    /// A bump too small for the changes.
    Breaking,
    /// Any change.
    Any,
    /// Never.
    None,
}

/// `pipectl wit diff --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DiffFormat {
    /// Text for people.
    Human,
    /// A stable JSON document.
    Json,
    /// GitHub workflow annotations.
    Github,
    /// Markdown, for a pull-request comment.
    Markdown,
}

/// `pipectl sign`.
#[derive(Debug, Args)]
pub struct SignArgs {
    /// The artifact: `host/repo:tag`, `host/repo@sha256:…`,
    /// `oci-layout:DIR:tag` or `ns:name@version`.
    #[arg(value_name = "REF")]
    pub reference: String,
    /// The private key: a PKCS#8 or SEC1 PEM file, `env:VAR`, or `-`.
    #[arg(long, value_name = "KEY")]
    pub key: String,
    /// Sign an in-toto statement about the manifest digest (a DSSE
    /// envelope) instead of the manifest bytes.
    #[arg(long)]
    pub dsse: bool,
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

/// `pipectl verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The artifact, as for `pipectl sign`; or a component file, whose
    /// `compose --attest --sign` bundles next to it are verified.
    #[arg(value_name = "REF|FILE")]
    pub reference: String,
    /// A trusted public key (PEM file, `env:VAR`, or `-`); repeatable.
    #[arg(long = "key", value_name = "PUB", required = true)]
    pub keys: Vec<String>,
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

/// `pipectl test`.
#[derive(Debug, Args)]
pub struct TestArgs {
    /// Case files (TOML): `[[case]]` tables with `invoke` and `expect`,
    /// `expect-trap` or `expect-contains`, or `resource` and `[[case.step]]`s.
    /// With `--pipeline`: more cases for the composed pipeline.
    #[arg(required_unless_present = "pipeline")]
    pub cases: Vec<PathBuf>,
    /// A component to test: a file or a registry reference (fetched and
    /// verified, under the working folder's trust policy); repeat to run
    /// the same cases against several.
    #[arg(
        long,
        required_unless_present = "pipeline",
        conflicts_with = "pipeline",
        value_name = "FILE|REF"
    )]
    pub component: Vec<String>,
    /// Where to run the cases: `wasmtime` (pipectl's host), `node` (the
    /// component transpiled by jco, on Node.js); repeat for both.
    #[arg(long, value_enum, default_values_t = [TestRuntime::Wasmtime])]
    pub runtime: Vec<TestRuntime>,
    /// jco, for `--runtime node` (default: `$PIPECTL_JCO`, else `jco` on
    /// the PATH).
    #[arg(long, value_name = "PATH")]
    pub jco: Option<PathBuf>,
    /// Node.js, for `--runtime node`.
    #[arg(long, value_name = "PATH", default_value = "node")]
    pub node: PathBuf,
    /// Test a pipeline: each stage against the case files its `[[stage]]`
    /// names (`cases = [...]`), and the pipeline composed from them against
    /// `[pipeline]`'s (and those given as arguments).
    #[arg(long, value_name = "PIPELINE.TOML")]
    pub pipeline: Option<PathBuf>,
    /// Run only the cases with one of these tags.
    #[arg(long)]
    pub tag: Vec<String>,
    /// Grant a capability to the components (deny by default).
    #[arg(long, value_enum)]
    pub grant: Vec<GrantArg>,
    /// Wall-clock limit per call, e.g. `500ms`, `5s`; a bare number is
    /// milliseconds (a case's `timeout-ms` overrides it).
    #[arg(long, value_name = "DURATION", default_value = "5s",
          value_parser = pipectl_manifest::parse_duration)]
    pub timeout: std::time::Duration,
    /// Fuel per call (a case's `fuel` overrides it).
    #[arg(long)]
    pub fuel: Option<u64>,
    /// Linear memory per instance, e.g. `64MiB`; a bare number is bytes (a
    /// case's `max-memory` overrides it).
    #[arg(long, value_name = "SIZE", value_parser = pipectl_manifest::parse_size)]
    pub max_memory: Option<u64>,
    /// Cases run at once (default: one per core).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: TestFormat,
    #[command(flatten)]
    pub registry: RegistryAccessArgs,
}

/// `pipectl test --runtime`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TestRuntime {
    /// pipectl's wasmtime host.
    Wasmtime,
    /// The component transpiled to JavaScript by jco, on Node.js.
    Node,
}

impl TestRuntime {
    /// Its name in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            TestRuntime::Wasmtime => "wasmtime",
            TestRuntime::Node => "node",
        }
    }
}

/// `pipectl test --format`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum TestFormat {
    /// ✓/✗ per case, expected vs found in WAVE.
    #[default]
    Human,
    /// One JSON document.
    Json,
    /// JUnit XML, as CI systems render it.
    Junit,
}

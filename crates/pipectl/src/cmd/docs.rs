//! `pipectl completions` and `pipectl man`: what clap_complete and
//! clap_mangen make of the command-line definition.

use anyhow::Context as _;

use crate::Outcome;
use crate::cli::opts::{CompletionsArgs, ManArgs};

/// Prints the completion script for a shell.
pub fn completions(args: CompletionsArgs) -> anyhow::Result<Outcome> {
    let mut cmd = crate::command();
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "pipectl", &mut out);
    crate::cli::output::print_bytes(&out)?;
    Ok(Outcome::Ok)
}

/// Writes the man pages: `pipectl.1` to stdout, or every page into
/// `--out DIR`.
pub fn man(args: ManArgs) -> anyhow::Result<Outcome> {
    let cmd = crate::command();
    match &args.out {
        None => {
            let mut out = Vec::new();
            clap_mangen::Man::new(cmd).render(&mut out)?;
            crate::cli::output::print_bytes(&out)?;
        }
        Some(dir) => {
            fs_err::create_dir_all(dir)?;
            clap_mangen::generate_to(cmd, dir)
                .with_context(|| format!("failed to write the man pages into {}", dir.display()))?;
            crate::cli::output::print_text(&format!(
                "wrote the man pages into {}\n",
                dir.display()
            ))?;
        }
    }
    Ok(Outcome::Ok)
}

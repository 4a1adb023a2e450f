//! Shell completion scripts: `completions bash|zsh|fish|…`, generated from the grammar.

use clap::{Args, CommandFactory};
use clap_complete::Shell;

use crate::cli::Cli;
use crate::failure::Failure;

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  hallpass completions bash > ~/.local/share/bash-completion/completions/hallpass
  hallpass completions zsh > \"${fpath[1]}/_hallpass\"
  hallpass completions fish > ~/.config/fish/completions/hallpass.fish")]
pub struct CompletionsArgs {
    /// The shell to complete for
    #[arg(value_enum)]
    pub shell: Shell,
}

pub fn run(a: CompletionsArgs) -> Result<(), Failure> {
    let mut cmd = Cli::command();
    clap_complete::generate(a.shell, &mut cmd, "hallpass", &mut std::io::stdout());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shell_gets_a_script() {
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            let mut buf = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "hallpass", &mut buf);
            let script = String::from_utf8(buf).expect("utf-8");
            assert!(script.contains("set-manager"), "{shell:?}");
        }
    }
}

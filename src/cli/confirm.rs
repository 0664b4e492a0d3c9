//! The confirmation a protected environment asks for before a command
//! changes it: the environment's name typed on a terminal, or `--confirm
//! NAME` where there is none (CI). One function for every writing command.

use std::io::{BufRead, IsTerminal, Write};

use oneoff::config::Target;
use oneoff::Error;

/// `--confirm NAME`, flattened into the commands that change a protected environment.
#[derive(Debug, Clone, clap::Args)]
pub struct ConfirmArg {
    /// On a protected environment: its name, to go on without the question on a terminal (CI).
    #[arg(long, value_name = "NAME")]
    pub confirm: Option<String>,
}

/// Goes on when `target` is not protected, or `given` is its name, or the
/// person at the terminal types its name; refuses (exit 3) otherwise.
/// `action` says what is about to happen, e.g. "run 2 scripts".
pub fn confirm(target: &Target, given: Option<&str>, action: &str) -> Result<(), Error> {
    let Some(env) = target.environment.as_ref().filter(|e| e.protected) else {
        return Ok(());
    };
    let name = env.name.as_str();
    let place = format!("{name} ({})", target.url.redacted());
    match given {
        Some(given) if given == name => return Ok(()),
        Some(given) => {
            return Err(Error::Refused(format!(
                "--confirm {given} does not name the environment this command works on, {place}; nothing was changed\nhint: pass --confirm {name} if {name} is what you mean"
            )))
        }
        None => {}
    }
    if !(std::io::stdin().is_terminal() && std::io::stderr().is_terminal()) {
        return Err(Error::Refused(format!(
            "{place} is a protected environment: to {action} without a terminal to confirm on, pass --confirm {name}; nothing was changed"
        )));
    }
    eprint!("{place} is a protected environment. To {action}, type its name: ");
    let _ = std::io::stderr().flush();
    let mut typed = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut typed)
        .map_err(|e| Error::Usage(format!("cannot read the confirmation: {e}")))?;
    if typed.trim() == name {
        Ok(())
    } else {
        Err(Error::Refused(format!(
            "you typed `{}`, not `{name}`: nothing was changed",
            typed.trim()
        )))
    }
}

//! Who a person is, for the audit trail and the two-person rule:
//! `ONEOFF_USER`, else the OS user (`$USER`, `$LOGNAME`, else the user
//! database), plus the host. Never `unknown`: a user the database does not
//! know is named by their uid.

/// A person at a machine.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Identity {
    /// `ONEOFF_USER` or the OS user name.
    pub user: String,
    /// The host name.
    pub host: String,
}

impl Identity {
    /// The person running this process.
    pub fn current() -> Identity {
        let from_env = ["ONEOFF_USER", "USER", "LOGNAME"]
            .iter()
            .find_map(|k| std::env::var(k).ok().filter(|v| !v.trim().is_empty()));
        Identity {
            user: from_env.unwrap_or_else(os_user),
            host: gethostname::gethostname().to_string_lossy().into_owned(),
        }
    }

    /// `user@host`, as the ledger's `run_by`.
    pub fn run_by(&self) -> String {
        format!("{}@{}", self.user, self.host)
    }
}

/// The name of the effective user from the user database (`getpwuid_r`),
/// or `uid-N` when it has none.
#[cfg(unix)]
fn os_user() -> String {
    // SAFETY: getpwuid_r writes into the buffers given and returns a
    // pointer into them (or null); nothing outlives this function.
    unsafe {
        let uid = libc::geteuid();
        let mut pwd: libc::passwd = std::mem::zeroed();
        let mut buf = vec![0 as libc::c_char; 4096];
        let mut found: *mut libc::passwd = std::ptr::null_mut();
        let rc = libc::getpwuid_r(uid, &mut pwd, buf.as_mut_ptr(), buf.len(), &mut found);
        if rc == 0 && !found.is_null() && !pwd.pw_name.is_null() {
            let name = std::ffi::CStr::from_ptr(pwd.pw_name).to_string_lossy();
            if !name.is_empty() {
                return name.into_owned();
            }
        }
        format!("uid-{uid}")
    }
}

#[cfg(not(unix))]
fn os_user() -> String {
    std::env::var("USERNAME")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "user".into())
}

#[cfg(test)]
mod tests {
    #[test]
    #[cfg(unix)]
    fn the_user_database_names_the_current_user() {
        let name = super::os_user();
        assert!(!name.is_empty() && name != "unknown", "{name}");
    }
}

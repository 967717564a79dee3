//! The instance id (`SHOP_INSTANCE_ID`) of a processor or projector process.
//!
//! It names the process's transactional id and static group member, so it must be unique among
//! the running instances of one processor and should stay the same across a restart: then a
//! restarted instance fences its predecessor's open transaction at once. A fixed number suits
//! hand-started processes; replicas that share one configuration (`docker compose --scale`)
//! cannot be given different values, so the value `@hostname` takes the container's host
//! name, which Docker makes unique per container and keeps across its restarts. On Kubernetes
//! the manifests pass the pod name instead (the downward API), which a StatefulSet keeps.

/// The value that stands for this machine's host name.
pub const HOSTNAME: &str = "@hostname";

/// Longest instance id: it ends up inside a `group.instance.id`, which Kafka bounds at 249
/// characters, together with the prefix and the processor's name.
const MAX_LEN: usize = 128;

/// Why an instance id was refused.
#[derive(Debug, thiserror::Error)]
pub enum InstanceIdError {
    #[error("an instance id must not be empty")]
    Empty,
    #[error("instance id {id:?} is longer than {MAX_LEN} characters")]
    TooLong { id: String },
    #[error(
        "instance id {id:?} may hold only ASCII letters, digits, '.', '_' and '-' (it names a Kafka transactional id and group member)"
    )]
    BadCharacter { id: String },
    #[error("cannot read this machine's host name for {HOSTNAME}: {reason}")]
    NoHostname { reason: String },
}

/// Parses `SHOP_INSTANCE_ID`: `@hostname` or the id itself. Shaped as a clap `value_parser`.
///
/// # Errors
/// An empty or over-long id, a character Kafka ids should not carry, or `@hostname` on a
/// machine whose host name cannot be read.
pub fn parse(value: &str) -> Result<String, InstanceIdError> {
    let id = if value == HOSTNAME {
        hostname()?
    } else {
        value.to_owned()
    };
    validate(id)
}

fn validate(id: String) -> Result<String, InstanceIdError> {
    if id.is_empty() {
        return Err(InstanceIdError::Empty);
    }
    if id.len() > MAX_LEN {
        return Err(InstanceIdError::TooLong { id });
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if !id.chars().all(allowed) {
        return Err(InstanceIdError::BadCharacter { id });
    }
    Ok(id)
}

/// The kernel's host name (what a container's `hostname` prints), else `$HOSTNAME`.
fn hostname() -> Result<String, InstanceIdError> {
    let from_kernel = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_owned())
        .map_err(|error| error.to_string());
    match from_kernel {
        Ok(name) if !name.is_empty() => Ok(name),
        Ok(_) => from_env("the kernel's host name is empty".to_owned()),
        Err(reason) => from_env(reason),
    }
}

fn from_env(kernel_reason: String) -> Result<String, InstanceIdError> {
    match std::env::var("HOSTNAME") {
        Ok(name) if !name.trim().is_empty() => Ok(name.trim().to_owned()),
        _ => Err(InstanceIdError::NoHostname {
            reason: format!("{kernel_reason}, and HOSTNAME is unset"),
        }),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn plain_ids_pass_unchanged() {
        assert_eq!(parse("0").unwrap(), "0");
        assert_eq!(parse("shop-cart-2").unwrap(), "shop-cart-2");
        assert_eq!(parse("a.b_c-1").unwrap(), "a.b_c-1");
    }

    #[test]
    fn hostname_becomes_the_machines_name() {
        let id = parse(HOSTNAME).unwrap();
        let kernel = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
        assert_eq!(id, kernel.trim());
    }

    #[test]
    fn bad_ids_are_refused_with_the_reason() {
        assert!(matches!(parse(""), Err(InstanceIdError::Empty)));
        assert!(matches!(
            parse("two words"),
            Err(InstanceIdError::BadCharacter { .. })
        ));
        assert!(matches!(
            parse("$HOSTNAME"),
            Err(InstanceIdError::BadCharacter { .. })
        ));
        assert!(matches!(
            parse(&"x".repeat(MAX_LEN + 1)),
            Err(InstanceIdError::TooLong { .. })
        ));
        assert_eq!(parse(&"x".repeat(MAX_LEN)).unwrap().len(), MAX_LEN);
    }
}

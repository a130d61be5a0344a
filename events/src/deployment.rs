//! The deployment's own roles, carried by the identity provider's tokens
//! (beside whatever other roles a token holds): an admin acts on any
//! meeting as its host may; an auditor reads every meeting and the whole
//! log. Named here once; meeting roles (host, co-host...) are
//! [`crate::event::Role`].

/// A role of the deployment, as a token names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeploymentRole {
    Admin,
    Auditor,
}

impl DeploymentRole {
    pub const ALL: [Self; 2] = [Self::Admin, Self::Auditor];

    /// The name a token gives it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Auditor => "auditor",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|role| role.as_str() == name)
    }

    /// Whether a token's roles hold this one.
    pub fn held_by(self, roles: &[String]) -> bool {
        roles.iter().any(|r| r == self.as_str())
    }
}

/// Whether a token's roles read every meeting: an admin's or an
/// auditor's.
pub fn reads_all(roles: &[String]) -> bool {
    DeploymentRole::ALL
        .into_iter()
        .any(|role| role.held_by(roles))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_read_by_their_token_names() {
        let roles = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
        assert!(DeploymentRole::Admin.held_by(&roles(&["x", "admin"])));
        assert!(!DeploymentRole::Admin.held_by(&roles(&["Admin"])));
        assert!(reads_all(&roles(&["auditor"])));
        assert!(!reads_all(&roles(&["host"])));
        for role in DeploymentRole::ALL {
            assert_eq!(DeploymentRole::parse(role.as_str()), Some(role));
        }
    }
}

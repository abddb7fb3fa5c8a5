//! SSH public keys for `git push`: parsing an `authorized_keys`-style line, fingerprints, and the
//! forced-command line skiff writes for each key.

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use base64::Engine;
use sha2::{Digest, Sha256};

/// Key types OpenSSH accepts in `authorized_keys` that skiff takes.
const KEY_TYPES: &[&str] = &[
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
];
const MAX_KEY_LEN: usize = 16 * 1024;
const MAX_COMMENT_LEN: usize = 100;

/// A validated public key: its type, the base64 blob and a printable comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshPublicKey {
    pub key_type: String,
    pub blob_base64: String,
    pub comment: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SshKeyError {
    #[error("not an SSH public key: expected one line like 'ssh-ed25519 AAAA… you@laptop' (is this the .pub file?)")]
    Shape,
    #[error("unsupported key type {0:?}; use ssh-ed25519, ssh-rsa or ecdsa-sha2-*")]
    Type(String),
    #[error("the key's base64 data is damaged")]
    Base64,
    #[error("the key's data does not match its type {0}")]
    Mismatch(String),
    #[error("the key is longer than {MAX_KEY_LEN} bytes")]
    TooLong,
}

impl SshPublicKey {
    /// Parses one public key line; options before the key type (as in `authorized_keys`) are refused.
    pub fn parse(text: &str) -> Result<Self, SshKeyError> {
        let text = text.trim();
        if text.len() > MAX_KEY_LEN {
            return Err(SshKeyError::TooLong);
        }
        if text.is_empty() || text.lines().count() != 1 {
            return Err(SshKeyError::Shape);
        }
        let mut parts = text.split_whitespace();
        let key_type = parts.next().ok_or(SshKeyError::Shape)?;
        let blob_base64 = parts.next().ok_or(SshKeyError::Shape)?;
        if !KEY_TYPES.contains(&key_type) {
            return Err(if key_type.contains('=') || key_type.contains(',') {
                SshKeyError::Shape
            } else {
                SshKeyError::Type(key_type.to_owned())
            });
        }
        let blob = STANDARD
            .decode(blob_base64)
            .map_err(|_| SshKeyError::Base64)?;
        // The blob starts with the key type as an SSH string (u32 length, bytes).
        let declared = blob
            .get(..4)
            .map(|n| u32::from_be_bytes([n[0], n[1], n[2], n[3]]) as usize)
            .and_then(|n| blob.get(4..4 + n))
            .ok_or_else(|| SshKeyError::Mismatch(key_type.to_owned()))?;
        if declared != key_type.as_bytes() {
            return Err(SshKeyError::Mismatch(key_type.to_owned()));
        }
        let comment: String = parts
            .collect::<Vec<_>>()
            .join(" ")
            .chars()
            .filter(|c| !c.is_control() && *c != '"')
            .take(MAX_COMMENT_LEN)
            .collect();
        Ok(Self {
            key_type: key_type.to_owned(),
            blob_base64: blob_base64.to_owned(),
            comment,
        })
    }

    /// OpenSSH's fingerprint: `SHA256:` and the unpadded base64 of the blob's SHA-256.
    pub fn fingerprint(&self) -> String {
        let blob = STANDARD
            .decode(&self.blob_base64)
            .expect("validated by parse");
        format!("SHA256:{}", STANDARD_NO_PAD.encode(Sha256::digest(blob)))
    }

    /// The key as one line, without options.
    pub fn to_line(&self) -> String {
        if self.comment.is_empty() {
            format!("{} {}", self.key_type, self.blob_base64)
        } else {
            format!("{} {} {}", self.key_type, self.blob_base64, self.comment)
        }
    }
}

/// The `authorized_keys` file of the `skiff` user: every key may only run `command` (with the
/// key's fingerprint as its argument), with no pty, forwarding, X11, agent or user rc.
pub fn render_authorized_keys(command: &str, keys: &[SshPublicKey]) -> String {
    let mut out = String::from(
        "# Written by skiffd from its database; edit with skiff keys:add / keys:remove.\n",
    );
    for key in keys {
        out.push_str(&format!(
            "restrict,command=\"{command} {}\" {}\n",
            key.fingerprint(),
            key.to_line()
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An ed25519 key blob (type string and 32 bytes), base64-encoded.
    fn ed25519_blob() -> String {
        let mut blob = Vec::new();
        blob.extend_from_slice(&11u32.to_be_bytes());
        blob.extend_from_slice(b"ssh-ed25519");
        blob.extend_from_slice(&32u32.to_be_bytes());
        blob.extend_from_slice(&[7u8; 32]);
        STANDARD.encode(blob)
    }

    #[test]
    fn parses_a_public_key_line_and_fingerprints_it() {
        let line = format!("ssh-ed25519 {} dev@laptop\n", ed25519_blob());
        let key = SshPublicKey::parse(&line).unwrap();
        assert_eq!(key.key_type, "ssh-ed25519");
        assert_eq!(key.comment, "dev@laptop");
        assert!(key.fingerprint().starts_with("SHA256:"));
        assert!(!key.fingerprint().ends_with('='));
        assert_eq!(key.to_line(), line.trim());
    }

    #[test]
    fn refuses_what_is_not_a_plain_public_key() {
        let blob = ed25519_blob();
        assert_eq!(SshPublicKey::parse(""), Err(SshKeyError::Shape));
        assert_eq!(
            SshPublicKey::parse(&format!("command=\"sh\" ssh-ed25519 {blob}")),
            Err(SshKeyError::Shape)
        );
        assert_eq!(
            SshPublicKey::parse("-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n"),
            Err(SshKeyError::Shape)
        );
        assert_eq!(
            SshPublicKey::parse(&format!("ssh-dss {blob}")),
            Err(SshKeyError::Type("ssh-dss".into()))
        );
        assert_eq!(
            SshPublicKey::parse("ssh-ed25519 !!!"),
            Err(SshKeyError::Base64)
        );
        assert_eq!(
            SshPublicKey::parse(&format!("ssh-rsa {blob}")),
            Err(SshKeyError::Mismatch("ssh-rsa".into()))
        );
        assert_eq!(
            SshPublicKey::parse(&format!("ssh-ed25519 {blob} a\nssh-ed25519 {blob} b")),
            Err(SshKeyError::Shape)
        );
    }

    #[test]
    fn comments_cannot_break_out_of_the_line() {
        let key = SshPublicKey::parse(&format!("ssh-ed25519 {} a\"b\tc", ed25519_blob())).unwrap();
        assert_eq!(key.comment, "ab c");
    }

    #[test]
    fn authorized_keys_force_the_command_and_restrict_everything() {
        let key = SshPublicKey::parse(&format!("ssh-ed25519 {} dev", ed25519_blob())).unwrap();
        let text = render_authorized_keys("/usr/bin/skiff git-shell", std::slice::from_ref(&key));
        let line = text.lines().nth(1).unwrap();
        assert_eq!(
            line,
            format!(
                "restrict,command=\"/usr/bin/skiff git-shell {}\" {}",
                key.fingerprint(),
                key.to_line()
            )
        );
        assert_eq!(render_authorized_keys("/x", &[]).lines().count(), 1);
    }
}

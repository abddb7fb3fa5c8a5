//! `keys`, `keys:add` and `keys:remove`: the SSH keys that may `git push`.

use std::io::Write;
use std::path::PathBuf;

use clap::Subcommand;

use super::{gitpush, output, CliError, Session};
use crate::wire::{AddKey, Key};

#[derive(Debug, Subcommand)]
pub enum KeysVerb {
    /// List the SSH keys that may git push.
    #[command(name = "keys")]
    List,
    /// Allow an SSH public key to git push (default: ~/.ssh/id_ed25519.pub, id_ecdsa.pub or id_rsa.pub).
    #[command(name = "keys:add")]
    Add { file: Option<PathBuf> },
    /// Remove an SSH key by fingerprint (SHA256:…) or comment.
    #[command(name = "keys:remove")]
    Remove { key: String },
}

pub(super) async fn run(verb: KeysVerb, s: &mut Session<'_>) -> Result<(), CliError> {
    match verb {
        KeysVerb::List => {
            let keys: Vec<Key> = s.client.get("/v1/keys").await?;
            s.output.show(&keys, |out, _| write_keys(out, &keys))?;
        }
        KeysVerb::Add { file } => {
            let (path, text) = gitpush::read_public_key(file)?;
            let key: Key = s
                .client
                .post("/v1/keys", &AddKey { public_key: text })
                .await?;
            s.output.show(&key, |out, _| {
                writeln!(
                    out,
                    "Added {} ({} {}); it can now git push",
                    path.display(),
                    key.key_type,
                    key.fingerprint
                )
            })?;
        }
        KeysVerb::Remove { key } => {
            let removed: Key = s
                .client
                .delete_json(&format!("/v1/keys/{}", crate::wire::percent_encode(&key)))
                .await?;
            s.output.show(&removed, |out, _| {
                writeln!(out, "Removed {} {}", removed.fingerprint, removed.comment)
            })?;
        }
    }
    Ok(())
}

fn write_keys(out: &mut dyn Write, keys: &[Key]) -> std::io::Result<()> {
    if keys.is_empty() {
        return writeln!(
            out,
            "No SSH keys; add one with: skiff keys:add ~/.ssh/id_ed25519.pub"
        );
    }
    output::table(
        out,
        &["FINGERPRINT", "TYPE", "COMMENT", "ADDED"],
        keys.iter().map(|k| {
            vec![
                k.fingerprint.clone(),
                k.key_type.clone(),
                k.comment.clone(),
                k.created_at.clone(),
            ]
        }),
    )
}

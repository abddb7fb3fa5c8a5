//! `tokens`, `tokens:create` and `tokens:revoke`: bearer tokens for the TCP listener.

use std::io::Write;

use clap::Subcommand;

use super::{output, path_segment, CliError, Session};
use crate::wire::{CreateToken, CreatedToken, Token};

#[derive(Debug, Subcommand)]
pub enum TokensVerb {
    /// List API tokens (for the TCP listener).
    #[command(name = "tokens")]
    List,
    /// Create an API token; the secret is printed once.
    #[command(name = "tokens:create")]
    Create { name: String },
    /// Revoke an API token.
    #[command(name = "tokens:revoke")]
    Revoke { name: String },
}

pub(super) async fn run(verb: TokensVerb, s: &mut Session<'_>) -> Result<(), CliError> {
    match verb {
        TokensVerb::List => {
            let tokens: Vec<Token> = s.client.get("/v1/tokens").await?;
            s.output
                .show(&tokens, |out, _| write_tokens(out, &tokens))?;
        }
        TokensVerb::Create { name } => {
            let created: CreatedToken = s.client.post("/v1/tokens", &CreateToken { name }).await?;
            s.output.show(&created, |out, err| {
                writeln!(
                    err,
                    "Created token {}. Copy it now; it is not shown again. Use it as SKIFF_TOKEN.",
                    created.name
                )?;
                writeln!(out, "{}", created.token)
            })?;
        }
        TokensVerb::Revoke { name } => {
            s.client
                .delete(&format!("/v1/tokens/{}", path_segment(&name)?))
                .await?;
            s.output
                .show(&serde_json::json!({ "revoked": name }), |out, _| {
                    writeln!(out, "Revoked token {name}")
                })?;
        }
    }
    Ok(())
}

fn write_tokens(out: &mut dyn Write, tokens: &[Token]) -> std::io::Result<()> {
    if tokens.is_empty() {
        return writeln!(out, "No tokens. Create one with: skiff tokens:create NAME");
    }
    output::table(
        out,
        &["NAME", "CREATED", "LAST USED"],
        tokens.iter().map(|t| {
            vec![
                t.name.clone(),
                t.created_at.clone(),
                t.last_used_at.clone().unwrap_or_else(|| "never".into()),
            ]
        }),
    )
}

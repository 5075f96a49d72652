//! `openimp user create`: console accounts. The password comes from standard input or a file,
//! never from the command line (it would show in `ps` and shell history).

use std::io::Read;
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use openimp_console::accounts::{self, NewUser, Role};

use crate::config::DataOptions;

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a console user: a merchant's owner or viewer, or an operator (every merchant).
    Create(UserCreate),
}

#[derive(Debug, Args)]
pub struct UserCreate {
    /// The merchant code (imp + 8 digits) the user belongs to.
    #[arg(long, required_unless_present = "operator", conflicts_with = "operator")]
    merchant: Option<String>,
    /// An operator: manages every merchant and creates merchants in the console.
    #[arg(long)]
    operator: bool,
    #[arg(long)]
    email: String,
    /// owner (changes settings and money) or viewer (sees everything, changes nothing).
    #[arg(long, default_value = "owner", value_parser = ["owner", "viewer"], conflicts_with = "operator")]
    role: String,
    /// A file holding the password (`-` or absent: standard input). One line; its newline is
    /// dropped.
    #[arg(long)]
    password_file: Option<PathBuf>,
    /// Print exactly one JSON object.
    #[arg(long)]
    json: bool,
}

fn read_password(file: Option<&PathBuf>) -> anyhow::Result<String> {
    let mut text = String::new();
    match file {
        Some(path) if path.as_os_str() != "-" => {
            text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read --password-file {}", path.display()))?;
        }
        _ => {
            std::io::stdin()
                .read_to_string(&mut text)
                .context("cannot read the password from standard input")?;
        }
    }
    let password = text.lines().next().unwrap_or("").to_owned();
    if password.is_empty() {
        bail!("no password given (standard input or --password-file)");
    }
    Ok(password)
}

impl UserCommand {
    pub async fn run(self, data: &DataOptions) -> anyhow::Result<()> {
        match self {
            UserCommand::Create(args) => {
                let password = read_password(args.password_file.as_ref())?;
                let role = if args.operator {
                    Role::Operator
                } else {
                    Role::parse(&args.role).context("--role is owner or viewer")?
                };
                let db = data.open_db().await?;
                let user = accounts::create_user(
                    &db,
                    NewUser { email: args.email, merchant_id: args.merchant, role, password },
                )
                .await?;
                if args.json {
                    let json = serde_json::json!({
                        "id": user.id,
                        "email": user.email,
                        "merchant": user.merchant_id,
                        "role": user.role,
                    });
                    println!("{json}");
                } else {
                    println!(
                        "console user {} ({}{}) created; sign in at /console",
                        user.email,
                        user.role,
                        user.merchant_id.map(|m| format!(" of {m}")).unwrap_or_default()
                    );
                }
                db.close().await;
                Ok(())
            }
        }
    }
}

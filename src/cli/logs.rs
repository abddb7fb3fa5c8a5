//! `logs`: the app's lines from journald, streamed as they come with `--tail`, of one dyno or one
//! source if asked.

use clap::builder::PossibleValuesParser;
use clap::Subcommand;

use super::{path_segment, CliError, Session};
use crate::model::LOG_ORIGINS;

#[derive(Debug, Subcommand)]
pub enum LogsVerb {
    /// Show the app's logs from journald: its dynos' output and systemd's lines about them.
    #[command(name = "logs")]
    Show {
        /// How many past lines to show.
        #[arg(short = 'n', long = "num", default_value_t = 100)]
        num: u32,
        /// Keep streaming new lines (-t, as with heroku logs -t, and --follow work too).
        #[arg(short = 'f', long = "tail", short_alias = 't', alias = "follow")]
        tail: bool,
        /// Only one dyno, like web.1.
        #[arg(short = 'd', long)]
        dyno: Option<String>,
        /// Only the app's own output (app), skiff's lines about it (skiff) or the router's.
        #[arg(short = 's', long, value_parser = PossibleValuesParser::new(LOG_ORIGINS))]
        source: Option<String>,
    },
}

pub(super) async fn run(verb: LogsVerb, s: &mut Session<'_>) -> Result<(), CliError> {
    match verb {
        LogsVerb::Show {
            num,
            tail,
            dyno,
            source,
        } => {
            let (_, base) = s.app_path()?;
            let mut path = format!("{base}/logs?lines={num}&follow={tail}");
            if let Some(dyno) = dyno {
                path.push_str(&format!("&dyno={}", path_segment(&dyno)?));
            }
            if let Some(source) = source {
                path.push_str(&format!("&source={source}"));
            }
            s.client.stream_to(&path, s.output.out()).await
        }
    }
}

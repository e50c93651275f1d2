//! How a deploy's progress is shown: a live display on a terminal, one plain
//! timestamped line per stage elsewhere (CI logs), NDJSON with `-o json`.
//! Progress always goes to stderr except in JSON mode, where stdout carries
//! the events and nothing else.

use std::{
    io::IsTerminal,
    time::{Duration, Instant},
};

use gofast_proto::v1 as pb;
use indicatif::{ProgressBar, ProgressStyle};

use crate::{
    args::Output,
    error::CliResult,
    output::{event_json, print_json, stage_name},
};

pub enum Progress {
    Terminal { bar: ProgressBar, started: Instant },
    Plain,
    Json,
}

impl Progress {
    pub fn new(output: Output) -> Self {
        if output == Output::Json {
            return Progress::Json;
        }
        if !std::io::stderr().is_terminal() {
            return Progress::Plain;
        }
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("  {spinner} {msg} {elapsed:.dim}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(Duration::from_millis(80));
        bar.set_message("deploying");
        Progress::Terminal {
            bar,
            started: Instant::now(),
        }
    }

    pub fn event(&self, e: &pb::DeployEvent) -> CliResult {
        match self {
            Progress::Json => print_json(&event_json(e)?),
            Progress::Plain => {
                let time = crate::output::rfc3339(e.time.as_ref());
                eprintln!(
                    "{} {:<12} {}",
                    time.as_str().unwrap_or("-"),
                    stage_name(e.stage),
                    e.message
                );
            }
            Progress::Terminal { bar, started } => {
                let mark = if e.stage == pb::DeployStage::Failed as i32 {
                    "✗"
                } else {
                    "✓"
                };
                bar.println(format!(
                    "  {mark} {:<12} {:<40} {:>6.2}s",
                    stage_name(e.stage),
                    e.message,
                    started.elapsed().as_secs_f64()
                ));
                bar.set_message(match pb::DeployStage::try_from(e.stage) {
                    Ok(pb::DeployStage::HealthCheck) => "waiting for the app to answer",
                    _ => "deploying",
                });
            }
        }
        Ok(())
    }

    pub fn finish(&self) {
        if let Progress::Terminal { bar, .. } = self {
            bar.finish_and_clear();
        }
    }
}

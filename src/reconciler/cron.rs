//! Scheduled jobs: a live release's job as a transient timer created together with the service
//! it fires (in the dyno sandbox, output to the journal as `cron.N`).

use std::path::PathBuf;

use super::files::write_env_file;
use super::spec::DynoDefaults;
use super::{ReconcileError, Reconciler};
use crate::model::DesiredCron;
use crate::paths::Layout;
use crate::systemd::properties::{
    oneoff_properties, timer_properties, OneOffCommand, OneOffLifetime, OneOffSpec, OneOffStdio,
};

impl Reconciler {
    /// Sets up a live release's scheduled job: its environment file, then its timer with the
    /// service the timer fires.
    pub(super) async fn start_timer(
        &self,
        cron: &DesiredCron,
        network_namespace: Option<String>,
    ) -> Result<(), ReconcileError> {
        let unit = &cron.unit;
        let env_file = self.layout.env_file(&unit.app, unit.release);
        write_env_file(env_file.clone(), &cron.config).await?;
        let mut spec = job_spec(cron, &self.defaults, &self.layout, env_file);
        spec.network_namespace = network_namespace;
        spec.volumes = crate::volume_dirs::prepare(
            &self.layout,
            self.systemd.as_ref(),
            &unit.app,
            &cron.volumes,
        )
        .await?;
        tracing::info!(app = %unit.app, job = %unit.dyno(), release = unit.release, schedule = %cron.job.schedule, "scheduling job");
        self.systemd
            .start_timer(
                &unit.timer_name(),
                timer_properties(unit, &cron.job.schedule),
                &unit.service_name(),
                oneoff_properties(&spec),
            )
            .await?;
        Ok(())
    }
}

/// Pure: the service a job's timer fires, a oneshot that may run for `job_timeout`.
fn job_spec(
    cron: &DesiredCron,
    defaults: &DynoDefaults,
    layout: &Layout,
    env_file: PathBuf,
) -> OneOffSpec {
    let unit = &cron.unit;
    OneOffSpec {
        unit_name: unit.service_name(),
        app: unit.app.clone(),
        dyno: unit.dyno(),
        command: OneOffCommand::Shell(cron.job.command.clone()),
        slug_dir: layout.slug_dir(&unit.app, cron.slug_version),
        env_file,
        build_id: None,
        release: Some(unit.release),
        limits: defaults.limits,
        timeout_usec: defaults.job_timeout.as_micros() as u64,
        hidden_paths: layout.hidden_from_dynos(),
        stdio: OneOffStdio::Journal,
        lifetime: OneOffLifetime::Oneshot { part_of: None },
        extra_env: Vec::new(),
        network_namespace: None,
        volumes: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::config::Config;
    use crate::model::{AppName, CronJob, CronUnit};

    #[test]
    fn a_jobs_service_runs_the_live_slug_for_at_most_the_job_timeout() {
        let defaults = DynoDefaults {
            job_timeout: Duration::from_secs(90),
            ..DynoDefaults::from_config(&Config::default())
        };
        let layout = Layout::new(Path::new("/state"), Path::new("/run"));
        let app = AppName::parse("hello").unwrap();
        let cases = [(1, 3, 2, "cron.1"), (2, 4, 4, "cron.2")];
        for (index, release, slug_version, dyno) in cases {
            let cron = DesiredCron {
                unit: CronUnit {
                    app: app.clone(),
                    index,
                    release,
                },
                job: CronJob::new("rake tick", "*/5 * * * *").unwrap(),
                slug_version,
                config: Arc::default(),
                volumes: Arc::default(),
            };
            let spec = job_spec(&cron, &defaults, &layout, "/env".into());
            assert_eq!(spec.unit_name, cron.unit.service_name());
            assert_eq!(spec.dyno, dyno);
            assert_eq!(spec.release, Some(release));
            assert_eq!(spec.slug_dir, layout.slug_dir(&app, slug_version));
            assert_eq!(spec.timeout_usec, 90_000_000);
            assert_eq!(spec.command, OneOffCommand::Shell("rake tick".into()));
        }
    }
}

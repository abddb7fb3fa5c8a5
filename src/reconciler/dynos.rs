//! Starting a desired dyno (env file, port, transient unit) and keeping each app's slice at the
//! sum of its dynos' limits.

use super::spec::{app_totals, dyno_spec};
use super::{ReconcileError, Reconciler};
use crate::model::{DesiredDyno, DynoUnit};
use crate::systemd::names::app_slice;
use crate::systemd::properties::{dyno_properties, limit_properties};

impl Reconciler {
    /// The port of a web dyno's unit (kept in the store, so it stays the unit's); none for
    /// other dynos.
    pub(super) async fn port_of(&self, unit: &DynoUnit) -> Result<Option<u16>, ReconcileError> {
        if !unit.dyno.process_type.is_web() {
            return Ok(None);
        }
        let (first, last) = (self.defaults.port_first, self.defaults.port_last);
        Ok(Some(
            self.store
                .assign_port(unit.unit_name(), first, last)
                .await?,
        ))
    }

    /// Starts one desired dyno (its release's slug is there, its env file written and its
    /// `port` assigned) in its app's network `namespace`, and waits for its start job.
    pub(super) async fn start(
        &self,
        dyno: &DesiredDyno,
        port: Option<u16>,
        namespace: Option<String>,
    ) -> Result<(), ReconcileError> {
        let unit = &dyno.unit;
        let name = unit.unit_name();
        // A slice that emptied may have been unloaded and come back without limits, so its
        // totals are sent again after any start.
        self.slice_limits
            .lock()
            .expect("slice cache lock")
            .remove(&unit.app);
        let env_file = self.layout.env_file(&unit.app, unit.release);
        let volumes = crate::volume_dirs::prepare(
            &self.layout,
            self.systemd.as_ref(),
            &unit.app,
            &dyno.volumes,
        )
        .await?;
        let spec = dyno_spec(
            dyno,
            &self.defaults,
            &self.layout,
            env_file,
            port,
            namespace,
            volumes,
        );
        tracing::info!(app = %unit.app, dyno = %unit.dyno, release = unit.release, unit = %name, "starting dyno");
        self.systemd
            .start_transient(&name, dyno_properties(&spec))
            .await?;
        self.record_limits(name, spec.limits);
        Ok(())
    }

    /// Sets each app's slice to the sum of its dynos' limits, when that changed.
    pub(super) async fn apply_slice_totals<'a>(
        &self,
        dynos: impl IntoIterator<Item = &'a DesiredDyno>,
    ) {
        for (app, totals) in app_totals(dynos, &self.defaults) {
            let known = self
                .slice_limits
                .lock()
                .expect("slice cache lock")
                .get(&app)
                == Some(&totals);
            if known {
                continue;
            }
            let slice = app_slice(&app);
            match self
                .systemd
                .set_properties(&slice, limit_properties(&totals))
                .await
            {
                Ok(()) => {
                    self.slice_limits
                        .lock()
                        .expect("slice cache lock")
                        .insert(app, totals);
                }
                // The slice exists once a dyno runs in it; the next round tries again.
                Err(e) => tracing::debug!(slice = %slice, error = %e, "slice limits not set yet"),
            }
        }
    }
}

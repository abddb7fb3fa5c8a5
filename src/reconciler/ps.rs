//! `ps:restart` and `ps:resize` on running dynos: restarts in place and runtime limits.

use super::{ReconcileError, Reconciler};
use crate::model::{AppName, ProcessType};
use crate::store::DynoFilter;
use crate::systemd::names::{DynoUnit, UNIT_PATTERN};
use crate::systemd::properties::limit_properties;

impl Reconciler {
    /// Restarts the app's dynos that match `filter` (`ps:restart`); held ones are released by
    /// the caller and started by the next round.
    pub async fn restart(
        &self,
        app: &AppName,
        filter: &DynoFilter,
    ) -> Result<usize, ReconcileError> {
        // Web dynos get a new generation: the next rounds start replacements beside them and
        // switch traffic once those are healthy. Other dynos restart in place.
        let mut restarted = self
            .store
            .bump_generations(app.as_str(), filter.clone())
            .await?;
        let units = self.systemd.list_units(UNIT_PATTERN).await?;
        for u in units {
            let Some(unit) = DynoUnit::parse(&u.name) else {
                continue;
            };
            if &unit.app == app
                && !unit.dyno.process_type.is_web()
                && filter.matches(&unit.dyno)
                && u.active_state != "failed"
            {
                self.systemd.restart_unit(&u.name).await?;
                restarted += 1;
            }
        }
        self.poke();
        Ok(restarted)
    }

    /// Applies a process type's current limits to its running dynos without restarting them
    /// (`ps:resize`); dynos started later get them from the DB.
    pub async fn apply_limits(
        &self,
        app: &AppName,
        process_type: &ProcessType,
    ) -> Result<usize, ReconcileError> {
        let size = self
            .store
            .formation(app.as_str())
            .await?
            .into_iter()
            .find(|f| &f.process_type == process_type)
            .map(|f| f.size)
            .unwrap_or_default();
        let properties = limit_properties(&self.defaults.limits_for(&size));
        let mut changed = 0;
        for u in self.systemd.list_units(UNIT_PATTERN).await? {
            let Some(unit) = DynoUnit::parse(&u.name) else {
                continue;
            };
            if &unit.app == app
                && &unit.dyno.process_type == process_type
                && u.active_state != "failed"
            {
                self.systemd
                    .set_properties(&u.name, properties.clone())
                    .await?;
                changed += 1;
            }
        }
        Ok(changed)
    }
}

//! Destroyed volumes' directories: removed, with the row, once no process that mounts them runs.

use super::round::Round;
use super::Reconciler;
use crate::model::{volume_unmounted, CronUnit, DynoUnit};
use crate::systemd::UnitStatus;

impl Reconciler {
    /// Removes the directory of every destroyed volume that nothing mounts any more (see
    /// [`volume_unmounted`]), then forgets the volume.
    pub(super) async fn remove_destroyed_volumes(&self, units: &[UnitStatus], round: &mut Round) {
        let destroyed = self.store.destroyed_volumes().await;
        let Some(destroyed) =
            round.count_ok("reading destroyed volumes", destroyed.map_err(Into::into))
        else {
            return;
        };
        for volume in destroyed {
            let live = self.store.current_release(&volume.app).await;
            let Some(live) = round.count_ok("reading a release", live.map_err(Into::into)) else {
                continue;
            };
            let live = live.map(|r| r.version);
            let running: Vec<u32> = units
                .iter()
                .filter_map(|u| {
                    DynoUnit::parse(&u.name)
                        .map(|d| (d.app, d.release))
                        .or_else(|| CronUnit::parse(&u.name).map(|c| (c.app, c.release)))
                })
                .filter(|(app, _)| *app == volume.app)
                .map(|(_, release)| release)
                .collect();
            if !volume_unmounted(volume.destroyed_in, live, &running) {
                continue;
            }
            let dir = self.layout.volume_dir(&volume.app, &volume.name);
            let removed = crate::volume_dirs::remove(dir).await;
            if !round.count("removing a volume's files", removed.map_err(Into::into)) {
                continue;
            }
            let forgotten = self.store.forget_volume(&volume.app, &volume.name).await;
            if round.count("forgetting a volume", forgotten.map_err(Into::into)) {
                tracing::info!(app = %volume.app, volume = %volume.name, "volume destroyed with its files");
            }
        }
    }
}

//! A scheduled job's transient timer: fires the service of the same name, created alongside it.

use super::values::{s, Property, PropertyValue};
use crate::model::CronSchedule;
use crate::model::CronUnit;

/// A scheduled job's timer: fires its service on every calendar expression, to the second
/// (systemd's default accuracy would let it drift up to a minute).
pub fn timer_properties(unit: &CronUnit, schedule: &CronSchedule) -> Vec<Property> {
    vec![
        (
            "Description",
            s(format!(
                "skiff {} {} (v{}): {schedule}",
                unit.app,
                unit.dyno(),
                unit.release
            )),
        ),
        (
            "TimersCalendar",
            PropertyValue::Timers(
                schedule
                    .on_calendar()
                    .into_iter()
                    .map(|expr| ("OnCalendar".to_owned(), expr))
                    .collect(),
            ),
        ),
        // The timer fires the service of the same name, created alongside it.
        ("AccuracyUSec", PropertyValue::U64(1_000_000)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::AppName;
    use crate::systemd::properties::test_support::one;

    #[test]
    fn a_timer_fires_its_service_on_each_calendar_expression() {
        let unit = CronUnit {
            app: AppName::parse("my-app").unwrap(),
            index: 2,
            release: 4,
        };
        let schedule = CronSchedule::parse("0 9 1 * mon").unwrap();
        let p = timer_properties(&unit, &schedule);
        assert_eq!(
            one(&p, "TimersCalendar"),
            &PropertyValue::Timers(
                schedule
                    .on_calendar()
                    .into_iter()
                    .map(|e| ("OnCalendar".to_owned(), e))
                    .collect()
            )
        );
        let PropertyValue::Timers(list) = one(&p, "TimersCalendar") else {
            panic!("not timers")
        };
        assert_eq!(list.len(), 2, "day of month OR weekday: two expressions");
        assert_eq!(one(&p, "AccuracyUSec"), &PropertyValue::U64(1_000_000));
        assert_eq!(
            one(&p, "Description"),
            &s("skiff my-app cron.2 (v4): 0 9 1 * mon")
        );
    }
}

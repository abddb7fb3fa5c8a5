//! What a deploy's release starts with: the app's config and formation carried over, or on the
//! app's first deploy the defaults its `app.json` asks for.

use std::collections::BTreeMap;

use super::{ConfigVars, Formation, ProcessType, Procfile};

/// What an app's `app.json` asks for on its first deploy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FirstDeployDefaults {
    /// Config vars to set unless already set.
    pub env: ConfigVars,
    /// Dyno counts that replace Heroku's defaults.
    pub formation: BTreeMap<ProcessType, u32>,
}

/// The config and formation of a release built from a new slug with `procfile`. A later deploy
/// keeps the config and carries the current counts over to the new Procfile's types; the first
/// one adds `defaults.env` where a key is unset and starts from Heroku's defaults (one `web`)
/// with `defaults.formation`'s counts in their place.
pub fn deploy_start(
    first_deploy: bool,
    mut config: ConfigVars,
    current: &Formation,
    procfile: &Procfile,
    defaults: FirstDeployDefaults,
) -> (ConfigVars, Formation) {
    if !first_deploy {
        return (config, current.carried_to(procfile));
    }
    for (key, value) in defaults.env {
        config.entry(key).or_insert(value);
    }
    let base = Formation::defaults_for(procfile);
    let formation = Formation::from_counts(
        base.iter()
            .map(|(t, n)| (t.clone(), defaults.formation.get(t).copied().unwrap_or(n))),
    );
    (config, formation)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> ConfigVars {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn counts(pairs: &[(&str, u32)]) -> Vec<(String, u32)> {
        pairs.iter().map(|(t, n)| (t.to_string(), *n)).collect()
    }

    fn formation(pairs: &[(&str, u32)]) -> Formation {
        Formation::from_counts(
            pairs
                .iter()
                .map(|(t, n)| (ProcessType::parse(t).unwrap(), *n)),
        )
    }

    #[test]
    fn first_deploys_take_defaults_later_ones_carry_over() {
        let defaults = FirstDeployDefaults {
            env: vars(&[("KEEP", "theirs"), ("NEW", "x")]),
            formation: [(ProcessType::parse("worker").unwrap(), 2)].into(),
        };
        type Case<'a> = (
            bool,
            &'a [(&'a str, u32)],
            &'a [(&'a str, &'a str)],
            &'a [(&'a str, u32)],
        );
        let cases: [Case; 3] = [
            // First deploy: defaults fill unset keys, app.json counts replace Heroku's.
            (
                true,
                &[],
                &[("KEEP", "mine"), ("NEW", "x")],
                &[("web", 1), ("worker", 2)],
            ),
            // Later deploy: config untouched, counts carried over, new types at 0.
            (
                false,
                &[("web", 3)],
                &[("KEEP", "mine")],
                &[("web", 3), ("worker", 0)],
            ),
            (
                false,
                &[("web", 0), ("worker", 1)],
                &[("KEEP", "mine")],
                &[("web", 0), ("worker", 1)],
            ),
        ];
        let procfile = Procfile::parse("web: a\nworker: b").unwrap();
        for (first, current, want_config, want_counts) in cases {
            let (config, next) = deploy_start(
                first,
                vars(&[("KEEP", "mine")]),
                &formation(current),
                &procfile,
                defaults.clone(),
            );
            assert_eq!(
                config,
                vars(want_config),
                "first {first} current {current:?}"
            );
            let got: Vec<(String, u32)> = next.iter().map(|(t, n)| (t.to_string(), n)).collect();
            assert_eq!(
                got,
                counts(want_counts),
                "first {first} current {current:?}"
            );
        }
    }
}

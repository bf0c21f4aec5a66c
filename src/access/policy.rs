//! Who sees what: the one rule every handler (API, web UI) asks before it reads or changes a
//! case. A pure function of the user's role and how they stand to the case; the workflow then
//! decides which events their roles on the case allow (a refusal there is a 403 too).
//!
//! A case that exists but may not be seen is answered exactly as one that does not exist
//! ([`Verdict::Hidden`], a 404): whether a case about a child exists is itself confidential.

use serde_json::Value;

use super::Role;
use crate::directory::{Agency, Directory, PARTNERSHIP};
use crate::store::{CaseScope, ContactScope};
use crate::workflow::{Definition, RoleKind, lookup, same_email};

/// How a user stands to a case, the closest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Relation {
    /// The case names them (`raised_by.email`, `respondent.email`, …).
    Party,
    /// They are a directory contact of a party's agency (a line manager, a head of service).
    Contact,
    /// Their own agency is a party's agency.
    OwnAgency,
    /// None of these.
    Unrelated,
}

/// What a user wants to do with a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaseAction {
    /// See it: state, history, deadlines, messages.
    Read,
    /// Record an event on it (the workflow then checks their roles for that event).
    Act,
}

/// The answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Go ahead.
    Allow,
    /// Go ahead, once a reason is given; the reason is recorded in the access log (an admin
    /// reading a case).
    WithReason,
    /// The case may be seen but this may not be done with it: 403.
    Forbidden,
    /// As if the case did not exist: 404.
    Hidden,
}

/// The verdict on `action` by a user of `role` standing in `relation` to a case.
pub fn case_verdict(role: Role, relation: Relation, action: CaseAction) -> Verdict {
    use CaseAction::*;
    use Verdict::*;
    match role {
        // Board members read aggregates; no single case, not even its existence.
        Role::Board => Hidden,
        // Administrators run the service: they may look into a case, saying why, never act.
        Role::Admin => match action {
            Read => WithReason,
            Act => Forbidden,
        },
        // The partnership oversees every case of the partnership.
        Role::Partnership => Allow,
        Role::Practitioner | Role::Manager | Role::SeniorManager => match relation {
            Relation::Unrelated => Hidden,
            Relation::Party | Relation::Contact | Relation::OwnAgency => Allow,
        },
    }
}

/// The verdict on `action` for a user of `role` when the role alone decides it, whatever their
/// relation to the case (a list need not read a case's parties to know it may show it).
pub fn role_verdict(role: Role, action: CaseAction) -> Option<Verdict> {
    let unrelated = case_verdict(role, Relation::Unrelated, action);
    [Relation::Party, Relation::Contact, Relation::OwnAgency]
        .into_iter()
        .all(|relation| case_verdict(role, relation, action) == unrelated)
        .then_some(unrelated)
}

/// Whether a user of `role` must give a reason, recorded, to do `action` with any case (an
/// administrator reading one): asked before the case is looked up, so that without one a case
/// that exists and one that does not are answered alike.
pub fn reason_required(role: Role, action: CaseAction) -> bool {
    // Such a verdict depends on the role alone, so any relation gives it.
    case_verdict(role, Relation::Unrelated, action) == Verdict::WithReason
}

/// Whether a user of `role` acts on cases at all (a board member or an administrator never
/// does): asked before a case is looked up, so the refusal says nothing of whether it exists.
pub fn acts_on_cases(role: Role) -> bool {
    case_verdict(role, Relation::Party, CaseAction::Act) == Verdict::Allow
}

/// Whether a user of `role` may open new cases (the engine then checks they are a party the
/// data names, or a directory contact of a party's agency).
pub fn may_open(role: Role) -> bool {
    matches!(
        role,
        Role::Practitioner | Role::Manager | Role::SeniorManager | Role::Partnership
    )
}

/// Whether a user of `role` has lists of cases (My cases, deadlines, a calendar feed): a board
/// member reads aggregates only, and an administrator one case at a time with a reason.
pub fn lists_cases(role: Role) -> bool {
    !matches!(role, Role::Board | Role::Admin)
}

/// Whether a user of `role` may read the board's aggregate reports.
pub fn may_read_reports(role: Role) -> bool {
    matches!(role, Role::Board | Role::Partnership | Role::Admin)
}

/// Whether a user of `role` may manage users, tokens and the agency directory.
pub fn may_administer(role: Role) -> bool {
    role == Role::Admin
}

/// How the user with `email` (of `agency`, as the directory names it) stands to a case of
/// workflow `def` with opening `data`.
pub fn relation(
    email: &str,
    agency: Option<&str>,
    def: &Definition,
    data: &Value,
    directory: &Directory,
) -> Relation {
    if !def.party_roles(data, email).is_empty() {
        return Relation::Party;
    }
    if !directory.contact_roles(def, data, email).is_empty() {
        return Relation::Contact;
    }
    let Some(own) = agency.and_then(|a| directory.agency(a)) else {
        return Relation::Unrelated;
    };
    // A party's agency as the data names it (by name or id), matched through the directory so
    // that "Riverside Primary School" and "riverside-primary" are the same agency.
    let party_of_own_agency = def.roles.iter().any(|r| match &r.kind {
        RoleKind::Party { path } => lookup(data, path)
            .and_then(|party| party.get("agency"))
            .and_then(Value::as_str)
            .and_then(|named| directory.agency(named))
            .is_some_and(|a| a.id == own.id),
        RoleKind::Contact { .. } => false,
    });
    if party_of_own_agency {
        Relation::OwnAgency
    } else {
        Relation::Unrelated
    }
}

/// The cases a list may show a user of `role` with `email` and `agency` (as the directory
/// names it): the same cases [`relation`] and [`case_verdict`] let them read, for cases of
/// the `workflows` given. `None` for a role that reads no case in a list (a board member, or
/// an administrator, who reads one case at a time with a reason).
pub fn case_scope(
    role: Role,
    email: &str,
    agency: Option<&str>,
    workflows: &[&Definition],
    directory: &Directory,
) -> Option<CaseScope> {
    if !lists_cases(role) {
        return None;
    }
    if role == Role::Partnership {
        return Some(CaseScope::All);
    }
    // What a party's agency may say in the data: an agency's id or name, lower-case, each
    // only if the directory finds that agency by it (one agency's id may be another's name),
    // so that a list holds no case a read would not show.
    let keys = |agencies: &[&Agency]| -> Vec<String> {
        let mut keys: Vec<String> = agencies
            .iter()
            .flat_map(|a| {
                [a.id.to_lowercase(), a.name.to_lowercase()]
                    .into_iter()
                    .filter(|k| directory.agency(k).is_some_and(|found| found.id == a.id))
            })
            .collect();
        keys.sort();
        keys.dedup();
        keys
    };
    let own: Vec<&Agency> = agency
        .and_then(|a| directory.agency(a))
        .into_iter()
        .collect();
    let own = keys(&own);
    let mut contacts = Vec::new();
    for def in workflows {
        for r in &def.roles {
            let RoleKind::Contact { level, of } = &r.kind else {
                continue;
            };
            let held: Vec<&Agency> = directory
                .agencies
                .iter()
                .filter(|a| !of.is_empty() || a.id == PARTNERSHIP)
                .filter(|a| {
                    a.contacts
                        .iter()
                        .any(|c| c.level == *level && same_email(&c.email, email))
                })
                .collect();
            if held.is_empty() {
                continue;
            }
            if of.is_empty() {
                // A contact of the partnership itself (its business unit): every case.
                contacts.push(ContactScope {
                    workflow: def.id.clone(),
                    role: None,
                    agencies: Vec::new(),
                });
                continue;
            }
            let agencies = keys(&held);
            // A contact of their own agency (the usual case) sees no case that its own people
            // do not: any party of the agency already lets them.
            if agencies.iter().all(|a| own.contains(a)) {
                continue;
            }
            for party in of {
                contacts.push(ContactScope {
                    workflow: def.id.clone(),
                    role: Some(party.clone()),
                    agencies: agencies.clone(),
                });
            }
        }
    }
    Some(CaseScope::Related {
        email: email.trim().to_lowercase(),
        agencies: own,
        contacts,
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use serde_json::json;

    use super::*;
    use crate::workflow::Workflows;

    /// A verdict the role alone decides is the table's for every relation; the others depend
    /// on the relation.
    #[test]
    fn a_role_alone_decides_only_where_every_relation_agrees() {
        use CaseAction::*;
        use Verdict::*;
        let expected = [
            (Role::Practitioner, [None, None]),
            (Role::Manager, [None, None]),
            (Role::SeniorManager, [None, None]),
            (Role::Partnership, [Some(Allow), Some(Allow)]),
            (Role::Board, [Some(Hidden), Some(Hidden)]),
            (Role::Admin, [Some(WithReason), Some(Forbidden)]),
        ];
        assert_eq!(expected.len(), Role::ALL.len());
        for (role, [read, act]) in expected {
            assert_eq!(role_verdict(role, Read), read, "{role} read");
            assert_eq!(role_verdict(role, Act), act, "{role} act");
        }
    }

    /// The whole policy as a table: each role against each relation and action.
    #[test]
    fn every_role_against_every_relation_and_action() {
        use CaseAction::*;
        use Relation::*;
        use Verdict::*;
        #[rustfmt::skip]
        let table = [
            // role,               party,             contact,           own agency,        unrelated
            (Role::Practitioner,   [Allow, Allow],    [Allow, Allow],    [Allow, Allow],    [Hidden, Hidden]),
            (Role::Manager,        [Allow, Allow],    [Allow, Allow],    [Allow, Allow],    [Hidden, Hidden]),
            (Role::SeniorManager,  [Allow, Allow],    [Allow, Allow],    [Allow, Allow],    [Hidden, Hidden]),
            (Role::Partnership,    [Allow, Allow],    [Allow, Allow],    [Allow, Allow],    [Allow, Allow]),
            (Role::Board,          [Hidden, Hidden],  [Hidden, Hidden],  [Hidden, Hidden],  [Hidden, Hidden]),
            (Role::Admin,          [WithReason, Forbidden], [WithReason, Forbidden], [WithReason, Forbidden], [WithReason, Forbidden]),
        ];
        assert_eq!(table.len(), Role::ALL.len());
        for (role, party, contact, own, unrelated) in table {
            for (relation, [read, act]) in [
                (Party, party),
                (Contact, contact),
                (OwnAgency, own),
                (Unrelated, unrelated),
            ] {
                assert_eq!(
                    case_verdict(role, relation, Read),
                    read,
                    "{role} {relation:?} read"
                );
                assert_eq!(
                    case_verdict(role, relation, Act),
                    act,
                    "{role} {relation:?} act"
                );
            }
        }
        let roles =
            |f: fn(Role) -> bool| Role::ALL.into_iter().filter(|r| f(*r)).collect::<Vec<_>>();
        assert_eq!(
            roles(may_open),
            [
                Role::Practitioner,
                Role::Manager,
                Role::SeniorManager,
                Role::Partnership
            ]
        );
        assert_eq!(
            roles(may_read_reports),
            [Role::Partnership, Role::Board, Role::Admin]
        );
        assert_eq!(roles(may_administer), [Role::Admin]);
        assert_eq!(
            roles(lists_cases),
            [
                Role::Practitioner,
                Role::Manager,
                Role::SeniorManager,
                Role::Partnership
            ]
        );
        assert_eq!(
            roles(acts_on_cases),
            [
                Role::Practitioner,
                Role::Manager,
                Role::SeniorManager,
                Role::Partnership
            ]
        );
        let reason = |r| reason_required(r, Read);
        assert_eq!(roles(reason), [Role::Admin]);
        assert!(Role::ALL.into_iter().all(|r| !reason_required(r, Act)));
    }

    #[test]
    fn a_list_never_takes_a_name_the_directory_gives_to_another_agency() {
        use crate::directory::Agency;
        let agency = |id: &str, name: &str| Agency {
            id: id.into(),
            name: name.into(),
            contacts: Vec::new(),
        };
        // One agency's id is another's name: data saying "Police" is the first agency's.
        let directory = Directory {
            agencies: vec![agency("police", "County Police"), agency("pcc", "Police")],
        };
        let scope = case_scope(Role::Practitioner, "Me@X.org", Some("pcc"), &[], &directory);
        assert_eq!(
            scope,
            Some(CaseScope::Related {
                email: "me@x.org".into(),
                agencies: vec!["pcc".into()],
                contacts: Vec::new(),
            })
        );
        let scope = case_scope(
            Role::Practitioner,
            "me@x.org",
            Some("police"),
            &[],
            &directory,
        );
        let Some(CaseScope::Related { agencies, .. }) = scope else {
            panic!("{scope:?}")
        };
        assert_eq!(agencies, ["county police", "police"]);
        // Non-ASCII capitals are found either way.
        let directory = Directory {
            agencies: vec![agency("ecole", "École Sainte-Anne")],
        };
        assert!(directory.agency("ÉCOLE SAINTE-ANNE").is_some());
        assert_eq!(
            case_scope(Role::Board, "b@x.org", None, &[], &directory),
            None
        );
        assert_eq!(
            case_scope(Role::Partnership, "p@x.org", None, &[], &directory),
            Some(CaseScope::All)
        );
    }

    #[test]
    fn relations_come_from_the_data_and_the_directory() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let workflows =
            Workflows::load_dir(&root.join("workflows"), &root.join("config/templates")).unwrap();
        let def = workflows.get("dispute").unwrap();
        let file = root.join("config/agencies.yaml");
        let directory = Directory::parse(&file, &std::fs::read_to_string(&file).unwrap()).unwrap();
        let data = json!({
            "raised_by": { "email": "priya.shah@school.example.org", "agency": "riverside-primary" },
            "respondent": { "email": "tom.hughes@council.example.gov.uk", "agency": "Children's Social Care" },
        });
        let rel =
            |email: &str, agency: Option<&str>| relation(email, agency, def, &data, &directory);
        assert_eq!(rel("Priya.Shah@school.example.org", None), Relation::Party);
        // The school's designated safeguarding lead is a contact of the raiser's agency.
        assert_eq!(rel("dsl@school.example.org", None), Relation::Contact);
        // A colleague at the school, by the agency's name or id.
        assert_eq!(
            rel(
                "teacher@school.example.org",
                Some("Riverside Primary School")
            ),
            Relation::OwnAgency
        );
        assert_eq!(
            rel("teacher@school.example.org", Some("riverside-primary")),
            Relation::OwnAgency
        );
        // Someone at another agency, or whose agency is not in the directory, or none.
        assert_eq!(
            rel("nurse@health.example.org", Some("riverside-health")),
            Relation::Unrelated
        );
        assert_eq!(rel("x@example.org", Some("Nowhere")), Relation::Unrelated);
        assert_eq!(rel("x@example.org", None), Relation::Unrelated);
    }
}

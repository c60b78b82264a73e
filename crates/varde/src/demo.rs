//! `varde demo`: a realistic desk to look at and to try Varde on.
//!
//! Departments, about forty people, the usual assignment groups, services
//! and a category tree, and a few thousand incidents across the whole life
//! cycle. Incidents are raised with their creation time spread over the
//! last months (through the bulk import, which records their creation in the
//! audit trail), then worked through the ordinary `update_incident` and
//! `add_journal`, so their history, audit trail, search index and
//! auto-close timers are the real thing. Those later steps carry the time
//! the demo was made.
//!
//! Everything is drawn from a seeded random generator, one per incident, so
//! the same seed gives the same desk however the writes interleave.

use std::sync::Arc;

use futures::StreamExt;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use varde_domain::access::Role;
use varde_domain::incident::{Channel, Patch, State};
use varde_domain::priority::Level;
use varde_domain::record::JournalKind;
use varde_store::import::{ImportedIncident, MAX_IMPORT_BATCH};
use varde_store::incidents::{NewIncident, Scope};
use varde_store::Store;

use crate::config::anyhow_lite;

/// Every demo account's password, printed by `varde demo`.
pub const DEMO_PASSWORD: &str = "varde-demo-2026";
const DOMAIN: &str = "demo.varde.local";

const DEPARTMENTS: &[&str] = &["Finance", "Human Resources", "Sales", "Operations", "Research", "IT"];

const AGENTS: &[&str] = &[
    "Sofie Jensen",
    "Lars Nielsen",
    "Emma Lindqvist",
    "Johan Andersson",
    "Femke de Vries",
    "Daan Bakker",
    "Priya Raman",
    "Tom Walker",
    "Ingrid Holm",
    "Mikkel Madsen",
    "Sara Ekström",
    "Ruben Smit",
];

const REQUESTERS: &[&str] = &[
    "Anna Berg",
    "Peter Hansen",
    "Maja Karlsson",
    "Oliver Brown",
    "Lotte Visser",
    "Niels Poulsen",
    "Elin Nilsson",
    "Grace Taylor",
    "Sem Jansen",
    "Freja Christensen",
    "William Davies",
    "Astrid Olsson",
    "Noah Mulder",
    "Ida Larsen",
    "Hugo Persson",
    "Charlotte Evans",
    "Bram de Boer",
    "Karen Rasmussen",
    "Erik Gustafsson",
    "Amelia Wilson",
    "Julia van Dijk",
    "Mads Pedersen",
    "Linnea Svensson",
    "James Roberts",
    "Tess Meijer",
    "Frederik Sørensen",
    "Olivia Thompson",
];

/// Group name, description, and which agents (indexes into `AGENTS`) are in it.
const GROUPS: &[(&str, &str, &[usize])] = &[
    ("Service Desk", "First line: every new incident lands here", &[0, 1, 2, 3, 4, 5]),
    ("Network", "LAN, Wi-Fi, VPN and firewalls", &[6, 7, 1]),
    ("Workplace", "Laptops, printers, phones and desks", &[8, 9, 3]),
    ("Applications", "Office, ERP, payroll and the intranet", &[10, 11, 2]),
    ("Identity & Access", "Accounts, passwords and permissions", &[0, 4, 7]),
];

const SERVICES: &[(&str, &str)] = &[
    ("E-mail", "Mail and calendars"),
    ("VPN", "Remote access to the office network"),
    ("Payroll", "Salaries, expenses and time sheets"),
    ("Intranet", "The staff portal"),
    ("Printing", "Printers and scanning"),
    ("ERP", "Finance, purchasing and stock"),
    ("Telephony", "Desk and mobile phones"),
];

const CATEGORIES: &[(&str, &[&str])] = &[
    ("Hardware", &["Laptop", "Printer"]),
    ("Software", &["Office", "ERP"]),
    ("Network", &["VPN", "Wi-Fi"]),
    ("Access", &["Password", "Permissions"]),
];

/// A kind of trouble: its texts, and where it belongs.
struct Topic {
    /// (short description, description); several languages as callers write.
    texts: &'static [(&'static str, &'static str)],
    service: Option<&'static str>,
    category: (&'static str, &'static str),
    group: &'static str,
    replies: &'static [&'static str],
    notes: &'static [&'static str],
    resolutions: &'static [&'static str],
}

const TOPICS: &[Topic] = &[
    Topic {
        texts: &[
            (
                "VPN disconnects every few minutes",
                "Working from home, the VPN drops roughly every five minutes and Teams calls freeze.",
            ),
            (
                "Cannot connect to VPN from hotel",
                "The VPN client says 'authentication timed out' on hotel Wi-Fi. Phone hotspot works.",
            ),
            (
                "VPN forbindelsen afbrydes hele tiden",
                "Når jeg arbejder hjemmefra, mister jeg VPN forbindelsen flere gange i timen.",
            ),
            ("VPN fungerar inte efter uppdatering", "Efter gårdagens uppdatering startar inte VPN-klienten längre."),
            ("VPN verbinding valt steeds weg", "Sinds maandag valt de VPN verbinding elke tien minuten weg."),
        ],
        service: Some("VPN"),
        category: ("Network", "VPN"),
        group: "Network",
        replies: &[
            "Could you tell us which VPN client version you have (Help > About)?",
            "We have pushed a new VPN profile; please restart the laptop and try again.",
        ],
        notes: &[
            "Gateway vpn-gw2 shows many renegotiations for this user.",
            "Known issue with client 5.2 on some home routers; MTU fix applied.",
        ],
        resolutions: &[
            "New VPN profile with lower MTU; caller confirms the connection is stable.",
            "Updated the VPN client to 5.3.",
        ],
    },
    Topic {
        texts: &[
            (
                "Outlook keeps asking for my password",
                "Since this morning Outlook prompts for the password every few minutes.",
            ),
            (
                "Shared mailbox not visible in Outlook",
                "I was given access to the finance@ shared mailbox but it does not show up.",
            ),
            (
                "Mail to external partner bounces",
                "Mails to our supplier bounce with '550 rejected'. Internal mail works.",
            ),
            (
                "Outlook vraagt steeds om wachtwoord",
                "Outlook blijft om mijn wachtwoord vragen sinds de wachtwoordwijziging.",
            ),
            ("Kan ikke sende e-mail fra mobilen", "Mail app på telefonen kan modtage, men ikke sende e-mail."),
        ],
        service: Some("E-mail"),
        category: ("Software", "Office"),
        group: "Applications",
        replies: &[
            "Please remove the stored credentials in Windows Credential Manager and restart Outlook.",
            "Access can take up to an hour to appear; please restart Outlook now.",
        ],
        notes: &[
            "Auth logs show modern auth failing for this mailbox.",
            "The partner's domain has a strict SPF record; checked our outbound IPs.",
        ],
        resolutions: &[
            "Cleared cached credentials and re-created the Outlook profile.",
            "Re-added the shared mailbox permission with automapping.",
        ],
    },
    Topic {
        texts: &[
            (
                "Printer on 3rd floor jams constantly",
                "The big printer next to the kitchen on the 3rd floor jams on every second page.",
            ),
            ("Cannot print to the new printer", "The new printer in meeting room Oslo is not listed on my laptop."),
            ("Skriveren på 2. sal printer blanke sider", "Skriveren ved receptionen printer kun blanke sider."),
            ("Skrivaren skriver ut tomma sidor", "Skrivaren på plan 4 skriver ut tomma sidor sedan i går."),
            ("Printer geeft papierstoring", "De printer bij de receptie geeft steeds een papierstoring."),
        ],
        service: Some("Printing"),
        category: ("Hardware", "Printer"),
        group: "Workplace",
        replies: &[
            "A technician will look at the printer today.",
            "Please try again now; we have added the printer to your laptop.",
        ],
        notes: &[
            "Fuser unit worn; ordered a replacement from the supplier.",
            "Print server queue was stuck; restarted the spooler.",
        ],
        resolutions: &["Replaced the fuser unit.", "Deployed the printer through group policy."],
    },
    Topic {
        texts: &[
            (
                "Laptop very slow after update",
                "Since the last Windows update my laptop takes ten minutes to start and Teams is very slow.",
            ),
            ("Laptop screen flickers", "The laptop screen flickers when docked to the monitor."),
            ("Laptop battery drains in an hour", "The battery is empty after about an hour, even when idle."),
            ("Bærbar starter ikke", "Min bærbare computer starter ikke, lyset blinker orange."),
            ("Laptopen är extremt långsam", "Laptopen är extremt långsam sedan uppdateringen i tisdags."),
        ],
        service: None,
        category: ("Hardware", "Laptop"),
        group: "Workplace",
        replies: &[
            "Could you bring the laptop to the IT desk on the ground floor?",
            "We will swap the laptop; a loaner is ready for you.",
        ],
        notes: &["Disk health at 60%; replacing the SSD.", "Dock firmware outdated; updated to latest."],
        resolutions: &["Replaced the battery.", "Updated dock firmware and display driver.", "Reimaged the laptop."],
    },
    Topic {
        texts: &[
            (
                "Payroll: overtime missing from payslip",
                "My overtime for last month is not on the payslip although it was approved.",
            ),
            (
                "Cannot submit expenses in payroll portal",
                "The payroll portal shows an error when I submit my travel expenses.",
            ),
            ("Lønsedlen mangler overarbejde", "Mit overarbejde fra sidste måned er ikke med på lønsedlen."),
            ("Kan inte logga in i lönesystemet", "Jag får felmeddelande när jag loggar in i lönesystemet."),
        ],
        service: Some("Payroll"),
        category: ("Software", "ERP"),
        group: "Applications",
        replies: &[
            "We have asked the payroll team to check the approval flow.",
            "The portal was updated; please try submitting again.",
        ],
        notes: &[
            "Approval stuck in the workflow engine; re-triggered it.",
            "Vendor confirms a bug in the expense form with foreign currencies.",
        ],
        resolutions: &["Re-triggered the approval; overtime will be on next payslip.", "Vendor patch installed."],
    },
    Topic {
        texts: &[
            (
                "ERP very slow when posting invoices",
                "Posting an invoice in the ERP takes more than a minute since Monday.",
            ),
            ("ERP report shows wrong totals", "The monthly stock report in the ERP shows totals that do not match."),
            ("ERP-systemet hænger ved fakturering", "ERP-systemet hænger når vi bogfører fakturaer."),
            ("ERP rapport klopt niet", "Het voorraadrapport in het ERP toont verkeerde totalen."),
        ],
        service: Some("ERP"),
        category: ("Software", "ERP"),
        group: "Applications",
        replies: &[
            "We are investigating together with the ERP supplier.",
            "Could you send us the report parameters you used?",
        ],
        notes: &["Database index rebuild scheduled for tonight.", "Report uses a cached view; refreshed it."],
        resolutions: &["Index rebuild fixed the slowness.", "Refreshed the reporting view; totals correct."],
    },
    Topic {
        texts: &[
            ("Password expired, cannot log in", "My password expired while on holiday and I cannot log in anymore."),
            ("Account locked after password change", "After changing my password my account is locked every morning."),
            ("Mit password er udløbet", "Mit password er udløbet og jeg kan ikke logge ind."),
            ("Wachtwoord verlopen", "Mijn wachtwoord is verlopen en ik kan niet meer inloggen."),
        ],
        service: None,
        category: ("Access", "Password"),
        group: "Identity & Access",
        replies: &[
            "We have reset your password; you will get a temporary one by text message.",
            "Your phone still uses the old password; please update it there.",
        ],
        notes: &[
            "Lockouts come from the mobile mail client with the old password.",
            "Identity verified by callback to the registered phone number.",
        ],
        resolutions: &[
            "Password reset after identity check.",
            "Removed old credentials from the phone; no more lockouts.",
        ],
    },
    Topic {
        texts: &[
            (
                "Need access to the finance share",
                "I started in Finance this week and need access to the finance file share.",
            ),
            (
                "Permission denied on project folder",
                "I get 'permission denied' when opening the Research project folder.",
            ),
            ("Behöver behörighet till ekonomimappen", "Jag behöver behörighet till ekonomimappen på filservern."),
        ],
        service: Some("Intranet"),
        category: ("Access", "Permissions"),
        group: "Identity & Access",
        replies: &[
            "Your manager needs to approve this; we have sent them a request.",
            "Access granted; please log out and in again.",
        ],
        notes: &["Manager approval received by e-mail.", "Added to group FS-Research-RW."],
        resolutions: &["Access granted after manager approval.", "Added to the right security group."],
    },
    Topic {
        texts: &[
            (
                "Wi-Fi drops in meeting rooms",
                "The Wi-Fi in the meeting rooms on the 2nd floor keeps dropping during calls.",
            ),
            ("Guest Wi-Fi not working", "Visitors cannot connect to the guest Wi-Fi; the login page does not load."),
            ("Wifi virker ikke i kantinen", "Der er ingen wifi i kantinen siden i går."),
            ("Wifi werkt niet op de 3e verdieping", "Op de derde verdieping is er helemaal geen wifi."),
        ],
        service: None,
        category: ("Network", "Wi-Fi"),
        group: "Network",
        replies: &["We are aware and working on it.", "Please try again now and let us know."],
        notes: &["Access point AP-2-07 offline; PoE port flapping.", "Captive portal certificate expired."],
        resolutions: &["Replaced access point AP-2-07.", "Renewed the captive portal certificate."],
    },
    Topic {
        texts: &[
            ("Intranet page shows error 500", "The news page on the intranet shows 'error 500' since this morning."),
            (
                "Cannot find the holiday form on the intranet",
                "The holiday request form has disappeared from the intranet.",
            ),
            ("Intranettet er meget langsomt", "Intranettet er meget langsomt at åbne i dag."),
        ],
        service: Some("Intranet"),
        category: ("Software", "Office"),
        group: "Applications",
        replies: &["Thanks, we are looking into it.", "The form has moved to HR > Forms."],
        notes: &["App pool recycled; error gone.", "CMS search index rebuilt."],
        resolutions: &["Recycled the intranet app pool.", "Pointed the caller to the new location of the form."],
    },
    Topic {
        texts: &[
            ("Desk phone has no dial tone", "My desk phone shows 'registering' and there is no dial tone."),
            ("Teams calls drop after a minute", "Every Teams call drops after about a minute."),
            ("Telefonen ringer ikke", "Min fastnettelefon ringer ikke når folk ringer til mig."),
            ("Headset fungerar inte i Teams", "Mitt headset fungerar inte i Teams, men i andra program."),
        ],
        service: Some("Telephony"),
        category: ("Hardware", "Laptop"),
        group: "Workplace",
        replies: &["Please unplug the phone for ten seconds and plug it in again.", "We have sent you a new headset."],
        notes: &[
            "SIP registration failing after switch firmware update.",
            "Teams policy had the wrong calling profile.",
        ],
        resolutions: &["Re-provisioned the desk phone.", "Fixed the Teams calling policy."],
    },
    Topic {
        texts: &[
            ("Monitor stays black", "The second monitor stays black when I connect the laptop."),
            ("Need a second monitor", "Could I get a second monitor for my desk? My manager approved."),
            ("Skærmen flimrer", "Min ekstra skærm flimrer hele tiden."),
        ],
        service: None,
        category: ("Hardware", "Laptop"),
        group: "Service Desk",
        replies: &["Could you try another cable? There are spares at the IT desk.", "A monitor is on its way."],
        notes: &["Cable faulty.", "Monitor from stock, asset tag 4471."],
        resolutions: &["Replaced the display cable.", "Delivered and set up the monitor."],
    },
];

/// A plausible incident text (short description, description); also used by
/// `varde bench` for its generated load.
pub fn incident_text(rng: &mut impl Rng) -> (String, String) {
    let t = &TOPICS[rng.gen_range(0..TOPICS.len())];
    let (s, d) = t.texts[rng.gen_range(0..t.texts.len())];
    (s.to_string(), d.to_string())
}

/// What the demo made, for printing the logins.
pub struct Desk {
    pub admin: String,
    pub agents: Vec<String>,
    pub requesters: Vec<String>,
    pub incidents: usize,
}

/// Fills a database that has no incidents yet with the demo desk; used by
/// `varde serve --demo`.
pub async fn fill(store: &Store, incidents: usize) -> anyhow_lite::Result<()> {
    let desk = fill_with(store, incidents, 2026, false).await?;
    print_logins(&desk);
    Ok(())
}

pub fn print_logins(desk: &Desk) {
    eprintln!("\n  Demo desk ready: {} incidents.", desk.incidents);
    eprintln!("  Every demo account has the password: {DEMO_PASSWORD}");
    eprintln!("    administrator: {}", desk.admin);
    eprintln!("    agents:        {} (Service Desk), {} (Network), ...", desk.agents[0], desk.agents[6]);
    eprintln!("    problem manager: problems@{DOMAIN} (publishes known errors and articles)");
    eprintln!("    requesters:    {}, {}, ...\n", desk.requesters[0], desk.requesters[1]);
}

fn email_of(name: &str) -> String {
    let ascii: String = name
        .to_lowercase()
        .chars()
        .map(|c| match c {
            'ø' | 'ö' => 'o',
            'å' | 'ä' => 'a',
            'æ' => 'e',
            ' ' => '.',
            c => c,
        })
        .collect();
    format!("{ascii}@{DOMAIN}")
}

/// Finds a user by e-mail or makes them, so a forced second run reuses the desk.
async fn user(
    store: &Store,
    name: &str,
    email: String,
    role: Role,
    org: Option<i64>,
    hash: &str,
) -> anyhow_lite::Result<i64> {
    if let Ok(u) = store.user_by_email(&email).await {
        return Ok(u.id);
    }
    let new = varde_store::directory::NewUser {
        email,
        name: name.to_string(),
        role,
        organisation_id: org,
        password_hash: Some(hash.to_string()),
    };
    Ok(store.create_user(new, None).await?.id)
}

struct Catalogue {
    groups: Vec<(String, i64, Vec<i64>)>,
    services: Vec<(String, i64)>,
    categories: Vec<(String, String, i64)>,
    requesters: Vec<i64>,
}

impl Catalogue {
    fn group(&self, name: &str) -> &(String, i64, Vec<i64>) {
        self.groups.iter().find(|g| g.0 == name).expect("topic names a demo group")
    }
    fn service(&self, name: &str) -> i64 {
        self.services.iter().find(|s| s.0 == name).expect("topic names a demo service").1
    }
    fn category(&self, parent: &str, child: &str) -> i64 {
        self.categories.iter().find(|c| c.0 == parent && c.1 == child).expect("topic names a demo category").2
    }
}

/// Makes the demo desk. With `force` it runs even if there are incidents
/// already (adding to them); without, it refuses.
pub async fn fill_with(store: &Store, incidents: usize, seed: u64, force: bool) -> anyhow_lite::Result<Desk> {
    let existing = store.list_incidents(Scope::All, &Default::default(), Default::default(), None, 1).await?;
    if !existing.is_empty() && !force {
        return Err(
            "this database already has incidents; the demo is for an empty one (use --force to add to it anyway)"
                .into(),
        );
    }
    // One hash for every demo account: they share the published password,
    // and hashing forty times would only make the demo slower to start.
    let hash = crate::auth::hash_password(DEMO_PASSWORD.to_string()).await.map_err(|e| e.problem().detail)?;

    let mut orgs = Vec::new();
    let known = store.organisations().await?;
    for d in DEPARTMENTS {
        let id = match known.iter().find(|o| o.name == *d) {
            Some(o) => o.id,
            None => store.create_organisation(d.to_string(), None).await?.id,
        };
        orgs.push(id);
    }
    let it = *orgs.last().expect("IT is a department");
    let admin_email = format!("admin@{DOMAIN}");
    user(store, "Demo Administrator", admin_email.clone(), Role::Admin, Some(it), &hash).await?;
    let problem_manager =
        user(store, "Hanne Problem", format!("problems@{DOMAIN}"), Role::ProblemManager, Some(it), &hash).await?;
    let mut agents = Vec::new();
    for name in AGENTS {
        agents.push(user(store, name, email_of(name), Role::Agent, Some(it), &hash).await?);
    }
    let mut requesters = Vec::new();
    for (k, name) in REQUESTERS.iter().enumerate() {
        let org = orgs[k % (orgs.len() - 1)];
        requesters.push(user(store, name, email_of(name), Role::Requester, Some(org), &hash).await?);
    }
    let known = store.groups().await?;
    let mut groups = Vec::new();
    for (name, description, members) in GROUPS {
        let id = match known.iter().find(|g| g.name == *name) {
            Some(g) => g.id,
            None => store.create_group(name.to_string(), description.to_string()).await?.id,
        };
        let members: Vec<i64> = members.iter().map(|m| agents[*m]).collect();
        for m in &members {
            store.add_member(id, *m).await?;
        }
        groups.push((name.to_string(), id, members));
    }
    let known = store.services().await?;
    let mut services = Vec::new();
    for (name, description) in SERVICES {
        let id = match known.iter().find(|s| s.name == *name) {
            Some(s) => s.id,
            None => store.create_service(name.to_string(), description.to_string()).await?.id,
        };
        services.push((name.to_string(), id));
    }
    let mut categories = Vec::new();
    for (parent, children) in CATEGORIES {
        let known = store.categories().await?;
        let pid = match known.iter().find(|c| c.parent_id == 0 && c.name == *parent) {
            Some(c) => c.id,
            None => store.create_category(0, parent.to_string()).await?.id,
        };
        for child in *children {
            let id = match known.iter().find(|c| c.parent_id == pid && c.name == *child) {
                Some(c) => c.id,
                None => store.create_category(pid, child.to_string()).await?.id,
            };
            categories.push((parent.to_string(), child.to_string(), id));
        }
    }
    let cat = Arc::new(Catalogue { groups, services, categories, requesters });

    // Raise the incidents, created over the last four months, oldest first.
    const DAY: i64 = 86_400_000_000;
    let now = varde_store::now_micros();
    let mut rng = StdRng::seed_from_u64(seed);
    let mut ages: Vec<i64> = (0..incidents).map(|_| rng.gen_range(0..120 * DAY)).collect();
    ages.sort_unstable_by(|a, b| b.cmp(a));
    let mut plans = Vec::with_capacity(incidents);
    for (k, age) in ages.into_iter().enumerate() {
        let mut r = StdRng::seed_from_u64(seed ^ (k as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        plans.push(plan(&mut r, &cat, now - age, now));
    }
    let mut ids = Vec::with_capacity(incidents);
    for chunk in plans.chunks(MAX_IMPORT_BATCH) {
        let batch: Vec<ImportedIncident> = chunk.iter().map(|p| p.raise.clone()).collect();
        ids.extend(store.import_incidents(batch).await?);
    }
    // Work them: many incidents at once, each one's steps in order, so the
    // group commit carries the load.
    let work = futures::stream::iter(ids.into_iter().zip(plans).map(|(id, p)| {
        let store = store.clone();
        async move { work(&store, id, p).await }
    }))
    .buffer_unordered(64)
    .collect::<Vec<_>>()
    .await;
    for r in work {
        r?;
    }
    crate::demo_knowledge::fill(store, problem_manager, agents[0]).await?;
    Ok(Desk {
        admin: admin_email,
        agents: AGENTS.iter().map(|n| email_of(n)).collect(),
        requesters: REQUESTERS.iter().map(|n| email_of(n)).collect(),
        incidents,
    })
}

/// One step of working an incident.
enum Action {
    Patch(Box<Patch>, i64),
    Journal(JournalKind, String, i64),
}

struct Plan {
    raise: ImportedIncident,
    actions: Vec<Action>,
}

fn state_patch(state: State) -> Patch {
    Patch { state: Some(state.as_str().into()), ..Patch::default() }
}

/// Decides how far an incident got: older ones are mostly done, recent ones
/// still in the queues.
fn plan(rng: &mut StdRng, cat: &Catalogue, created_at: i64, now: i64) -> Plan {
    const DAY: i64 = 86_400_000_000;
    let topic = &TOPICS[rng.gen_range(0..TOPICS.len())];
    let (short, description) = topic.texts[rng.gen_range(0..topic.texts.len())];
    let requester = cat.requesters[rng.gen_range(0..cat.requesters.len())];
    let level = |rng: &mut StdRng| Level::new("", [1, 2, 2, 3, 3, 3, 3][rng.gen_range(0..7)]).expect("1 to 3");
    let (impact, urgency) = (level(rng), level(rng));
    let channel =
        [Channel::Portal, Channel::Portal, Channel::Email, Channel::Phone, Channel::WalkIn][rng.gen_range(0..5)];
    let raise = ImportedIncident {
        new: NewIncident {
            short_description: short.into(),
            description: description.into(),
            requester_id: requester,
            created_by: requester,
            assignment_group_id: None,
            assignee_id: None,
            impact,
            urgency,
            category_id: Some(cat.category(topic.category.0, topic.category.1)),
            service_id: topic.service.map(|s| cat.service(s)),
            channel,
            major: impact == Level::HIGH && urgency == Level::HIGH && rng.gen_ratio(1, 4),
        },
        created_at,
        updated_at: created_at,
        state: State::New,
        resolution: None,
    };
    let age_days = (now - created_at) / DAY;
    // How far along: 0 new, 1 assigned, 2 in progress, 3 on hold, 4 resolved, 5 closed, 6 cancelled.
    let stage = match (age_days, rng.gen_range(0..100)) {
        (_, 0..=2) => 6,
        (0..=1, r) => [0, 0, 1, 2, 2, 3, 4][r as usize % 7],
        (2..=6, r) => [1, 2, 2, 3, 4, 4, 5][r as usize % 7],
        (_, r) if r < 8 => 3,
        (_, r) if r < 12 => 4,
        _ => 5,
    };
    let desk = cat.group("Service Desk");
    let desk_agent = desk.2[rng.gen_range(0..desk.2.len())];
    let target = cat.group(topic.group);
    let agent = target.2[rng.gen_range(0..target.2.len())];
    let mut actions = Vec::new();
    if stage == 6 {
        actions.push(Action::Journal(
            JournalKind::Reply,
            "Closing this as agreed: the caller no longer needs help.".into(),
            desk_agent,
        ));
        actions.push(Action::Patch(Box::new(state_patch(State::Cancelled)), desk_agent));
        return Plan { raise, actions };
    }
    if stage >= 1 {
        let via_desk = rng.gen_bool(0.5);
        if via_desk {
            actions.push(Action::Patch(
                Box::new(Patch {
                    assignment_group_id: Some(Some(desk.1)),
                    assignee_id: Some(Some(desk_agent)),
                    ..Patch::default()
                }),
                desk_agent,
            ));
            actions.push(Action::Journal(JournalKind::WorkNote, format!("Routing to {}.", topic.group), desk_agent));
        }
        actions.push(Action::Patch(
            Box::new(Patch {
                assignment_group_id: Some(Some(target.1)),
                assignee_id: Some(Some(agent)),
                ..Patch::default()
            }),
            if via_desk { desk_agent } else { agent },
        ));
    }
    if stage >= 2 {
        actions.push(Action::Patch(Box::new(state_patch(State::InProgress)), agent));
        let reply = topic.replies[rng.gen_range(0..topic.replies.len())];
        actions.push(Action::Journal(JournalKind::Reply, reply.into(), agent));
        if rng.gen_bool(0.6) {
            let note = topic.notes[rng.gen_range(0..topic.notes.len())];
            actions.push(Action::Journal(JournalKind::WorkNote, note.into(), agent));
        }
        if rng.gen_bool(0.3) {
            actions.push(Action::Journal(JournalKind::Reply, "Thanks, I will try that.".into(), requester));
        }
    }
    if stage == 3 {
        let reason = ["awaiting_caller", "awaiting_supplier", "awaiting_change"][rng.gen_range(0..3)];
        actions.push(Action::Patch(
            Box::new(Patch { state: Some("on_hold".into()), hold_reason: Some(reason.into()), ..Patch::default() }),
            agent,
        ));
    }
    if stage >= 4 {
        let notes = topic.resolutions[rng.gen_range(0..topic.resolutions.len())];
        let code = ["fixed", "fixed", "fixed", "workaround", "user_error", "not_reproducible"][rng.gen_range(0..6)];
        actions.push(Action::Patch(
            Box::new(Patch {
                state: Some("resolved".into()),
                resolution_code: Some(code.into()),
                resolution_notes: Some(notes.into()),
                ..Patch::default()
            }),
            agent,
        ));
    }
    if stage == 5 {
        actions.push(Action::Patch(Box::new(state_patch(State::Closed)), agent));
    }
    Plan { raise, actions }
}

async fn work(store: &Store, id: i64, plan: Plan) -> anyhow_lite::Result<()> {
    for a in plan.actions {
        match a {
            Action::Patch(p, actor) => {
                store.update_incident(id, None, *p, actor).await?;
            }
            Action::Journal(kind, body, author) => {
                store.add_journal(id, author, kind, body).await?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use varde_store::incidents::Filter;

    #[tokio::test]
    async fn the_demo_desk_is_real_and_refuses_a_second_run() {
        for db in varde_store::testing::databases().await {
            let desk = fill_with(&db.store, 150, 7, false).await.unwrap();
            assert_eq!(desk.agents.len() + desk.requesters.len() + 1, 40, "about forty people");
            let all =
                db.store.list_incidents(Scope::All, &Filter::default(), Default::default(), None, 500).await.unwrap();
            assert_eq!(all.len(), 150, "{}", db.engine);
            let states: std::collections::HashSet<_> = all.iter().map(|i| i.lifecycle.state).collect();
            for s in [State::New, State::InProgress, State::Resolved, State::Closed] {
                assert!(states.contains(&s), "{}: some incident is {}", db.engine, s.as_str());
            }
            // A closed one has a real history: the state changes are in its audit trail.
            let closed = all.iter().find(|i| i.lifecycle.state == State::Closed).unwrap();
            let trail = db.store.audit_of(varde_store::audit::Entity::Record, closed.id).await.unwrap();
            let states: Vec<_> =
                trail.iter().filter(|a| a.field == "state").filter_map(|a| a.new_value.clone()).collect();
            assert!(states.ends_with(&["resolved".to_string(), "closed".to_string()]), "{}: {states:?}", db.engine);
            assert!(!db.store.journal(closed.id, true).await.unwrap().is_empty(), "{}", db.engine);
            // Search finds the demo texts in several languages.
            for word in ["vpn", "printer", "wachtwoord"] {
                let f = Filter { text: Some(word.into()), ..Default::default() };
                let _ = db.store.list_incidents(Scope::All, &f, Default::default(), None, 10).await.unwrap();
            }
            let vpn = Filter { text: Some("vpn".into()), ..Default::default() };
            assert!(!db.store.list_incidents(Scope::All, &vpn, Default::default(), None, 10).await.unwrap().is_empty());
            // Logins work with the published password.
            let agent = db.store.user_for_login(&desk.agents[0]).await.unwrap().unwrap();
            assert!(crate::auth::verify_password(agent.1, DEMO_PASSWORD.into()).await);
            // A second run is refused, unless forced.
            let err = fill_with(&db.store, 10, 7, false).await.err().expect("refused").to_string();
            assert!(err.contains("already has incidents"), "{err}");
            fill_with(&db.store, 10, 8, true).await.unwrap();
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_plans() {
        let cat = Catalogue {
            groups: GROUPS.iter().enumerate().map(|(k, g)| (g.0.to_string(), k as i64, vec![1, 2])).collect(),
            services: SERVICES.iter().enumerate().map(|(k, s)| (s.0.to_string(), k as i64)).collect(),
            categories: CATEGORIES
                .iter()
                .flat_map(|(p, cs)| cs.iter().map(move |c| (p.to_string(), c.to_string(), 1)))
                .collect(),
            requesters: vec![3, 4],
        };
        let texts = |seed| {
            let mut r = StdRng::seed_from_u64(seed);
            (0..50).map(|_| plan(&mut r, &cat, 0, 30 * 86_400_000_000).raise.new.short_description).collect::<Vec<_>>()
        };
        assert_eq!(texts(1), texts(1));
        assert_ne!(texts(1), texts(2));
    }
}

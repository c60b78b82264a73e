//! Every string a person reads in the web UI. Templates never hold text:
//! they ask `tr.t("key")`, so a language is added here, as one more table,
//! without touching a template.

use axum::http::{header, HeaderMap};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
}

impl Lang {
    /// The languages Varde speaks, with their BCP 47 tags.
    const ALL: [(Lang, &'static str); 1] = [(Lang::En, "en")];

    pub fn tag(self) -> &'static str {
        Lang::ALL.iter().find(|(l, _)| *l == self).map(|(_, t)| *t).unwrap_or("en")
    }

    /// The first language in `Accept-Language` that Varde speaks, by the
    /// caller's q-weights; English when none matches.
    pub fn from_headers(headers: &HeaderMap) -> Lang {
        let Some(v) = headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()) else { return Lang::En };
        let mut wanted: Vec<(f32, &str)> = v
            .split(',')
            .filter_map(|part| {
                let mut it = part.trim().split(';');
                let tag = it.next()?.trim();
                let q = it.find_map(|p| p.trim().strip_prefix("q=")).and_then(|q| q.parse().ok()).unwrap_or(1.0);
                (!tag.is_empty() && q > 0.0).then_some((q, tag))
            })
            .collect();
        wanted.sort_by(|a, b| b.0.total_cmp(&a.0));
        for (_, tag) in wanted {
            let primary = tag.split('-').next().unwrap_or("").to_ascii_lowercase();
            if let Some((l, _)) = Lang::ALL.iter().find(|(_, t)| *t == primary) {
                return *l;
            }
        }
        Lang::En
    }

    fn table(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Lang::En => EN,
        }
    }
}

/// The translator handed to templates.
#[derive(Debug, Clone, Copy)]
pub struct Tr {
    pub lang: Lang,
}

impl Tr {
    pub fn new(lang: Lang) -> Tr {
        Tr { lang }
    }

    /// The text for `key`; a missing key falls back to English, then shows
    /// the key itself, so a gap is visible instead of an empty label.
    pub fn t<'a>(&self, key: &'a str) -> &'a str {
        lookup(self.lang.table(), key).or_else(|| lookup(EN, key)).unwrap_or(key)
    }

    /// Text with `{}` replaced by `arg`.
    pub fn f(&self, key: &str, arg: &dyn std::fmt::Display) -> String {
        self.t(key).replacen("{}", &arg.to_string(), 1)
    }

    pub fn state(&self, s: &str) -> &'static str {
        self.dynamic("state.", s)
    }
    pub fn hold(&self, s: &str) -> &'static str {
        self.dynamic("hold.", s)
    }
    pub fn resolution(&self, s: &str) -> &'static str {
        self.dynamic("resolution.", s)
    }
    pub fn role(&self, s: &str) -> &'static str {
        self.dynamic("role.", s)
    }
    pub fn link_kind(&self, s: &str) -> &'static str {
        self.dynamic("link.", s)
    }
    pub fn priority(&self, p: i64) -> &'static str {
        self.dynamic("priority.", &p.to_string())
    }
    pub fn level(&self, l: i64) -> &'static str {
        self.dynamic("level.", &l.to_string())
    }
    pub fn channel(&self, c: &str) -> &'static str {
        self.dynamic("channel.", c)
    }
    pub fn field(&self, f: &str) -> &'static str {
        self.dynamic("field.", f)
    }
    /// A CI's life-cycle status in words.
    pub fn ci_status(&self, s: &str) -> &'static str {
        self.dynamic("ci_status.", s)
    }
    // Problems and knowledge (see the `--- problems and knowledge ---` keys).
    pub fn kb_kind(&self, k: &str) -> &'static str {
        self.dynamic("kb.kind.", k)
    }
    pub fn kb_state(&self, s: &str) -> &'static str {
        self.dynamic("kb.state.", s)
    }
    pub fn kb_step(&self, s: &str) -> &'static str {
        self.dynamic("kb.step.", s)
    }
    pub fn kb_audience(&self, a: &str) -> &'static str {
        self.dynamic("kb.audience.", a)
    }
    pub fn problem_state(&self, s: &str) -> &'static str {
        self.dynamic("problem.state.", s)
    }
    pub fn rca(&self, m: &str) -> &'static str {
        self.dynamic("problem.rca.", m)
    }

    /// The words for `prefix` + `value`, or `value` itself as stored when
    /// there are none (a code or field this version has no words for), so
    /// that a page never shows "?" or nothing for it.
    pub fn words_or_stored(&self, prefix: &str, value: &str) -> String {
        match self.dynamic(prefix, value) {
            "?" => value.to_string(),
            words => words.to_string(),
        }
    }

    /// A label for a value from the domain (a state, a code): looked up as
    /// `prefix` + value, falling back to the raw value's table entry.
    fn dynamic(&self, prefix: &str, value: &str) -> &'static str {
        let key = format!("{prefix}{value}");
        self.lang.table().iter().chain(EN.iter()).find(|(k, _)| *k == key).map(|(_, v)| *v).unwrap_or("?")
    }
}

fn lookup<'a>(table: &'static [(&'static str, &'static str)], key: &'a str) -> Option<&'a str> {
    table.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
}

pub static EN: &[(&str, &str)] = &[
    ("app.name", "Varde"),
    ("nav.skip", "Skip to main content"),
    ("nav.main", "Main"),
    ("nav.queues", "Queues"),
    ("nav.new_incident", "New incident"),
    ("nav.portal", "My tickets"),
    ("nav.report", "Report an incident"),
    ("nav.admin", "Administration"),
    ("nav.account", "Change password"),
    ("nav.logout", "Log out"),
    ("nav.signed_in_as", "Signed in as"),
    // Login and account
    ("login.title", "Log in"),
    ("login.email", "E-mail"),
    ("login.password", "Password"),
    ("login.submit", "Log in"),
    ("login.failed", "The e-mail or password is wrong."),
    ("login.throttled", "Too many failed attempts. Try again in {} seconds."),
    ("account.title", "Change password"),
    ("account.current", "Current password"),
    ("account.new", "New password"),
    ("account.submit", "Change password"),
    ("account.done", "Your password has been changed. Other sessions were logged out."),
    // Queues
    ("queue.mine", "Assigned to me"),
    ("queue.groups", "My groups"),
    ("queue.unassigned", "Unassigned"),
    ("queue.open", "All open"),
    ("queue.all", "All incidents"),
    ("queue.filter", "Filter"),
    ("queue.apply", "Apply"),
    ("queue.text", "Text"),
    ("queue.any", "Any"),
    ("queue.sort", "Sort"),
    ("sort.newest", "Newest first"),
    ("sort.oldest", "Oldest first"),
    ("sort.priority", "Priority"),
    ("sort.updated", "Recently updated"),
    ("queue.empty", "No incidents match."),
    ("queue.next", "Next page"),
    ("queue.first", "First page"),
    ("queue.saved", "Saved filters"),
    ("queue.save_as", "Save this view as"),
    ("queue.save", "Save filter"),
    ("queue.delete", "Delete"),
    ("queue.no_saved", "No saved filters yet."),
    ("queue.caption", "Incidents"),
    ("queue.loading", "Loading…"),
    // Incident fields
    ("field.number", "Number"),
    ("field.priority", "Priority"),
    ("field.short_description", "Short description"),
    ("field.description", "Description"),
    ("field.state", "State"),
    ("field.group", "Group"),
    ("field.assignment_group_id", "Assignment group"),
    ("field.assignee_id", "Assignee"),
    ("field.requester", "Requester"),
    ("field.requester_email", "Requester's e-mail"),
    ("field.updated", "Updated"),
    ("field.created", "Created"),
    ("field.impact", "Impact"),
    ("field.urgency", "Urgency"),
    ("field.category_id", "Category"),
    ("field.service_id", "Service"),
    ("field.major", "Major incident"),
    ("field.channel", "Channel"),
    ("field.hold_reason", "Hold reason"),
    ("field.resolution_code", "Resolution code"),
    ("field.resolution_notes", "Resolution notes"),
    ("field.resolved", "Resolved"),
    ("field.closed", "Closed"),
    ("field.reopen_count", "Times reopened"),
    ("field.reassignment_count", "Times reassigned"),
    ("field.first_contact", "Resolved at first contact"),
    ("field.ci", "Affected CI"),
    ("field.link", "Link"),
    ("field.attachment", "Attachment"),
    ("field.watcher", "Watcher"),
    ("field.escalated", "Marked for escalation"),
    ("field.workaround", "Workaround from"),
    ("history.supplier", "Supplier"),
    ("field.body", "Message"),
    ("field.file", "File"),
    ("field.link_to", "Other incident's number"),
    ("field.from", "From"),
    ("field.helpful", "Did this help?"),
    ("field.to", "To"),
    ("field.kind", "Kind"),
    ("field.name", "Name"),
    ("field.email", "E-mail"),
    ("field.role", "Role"),
    ("field.active", "Active"),
    ("field.password", "Password"),
    ("field.parent_id", "Parent"),
    ("field.cells", "Priorities"),
    ("field.current_password", "Current password"),
    ("field.new_password", "New password"),
    ("field.version", "Version"),
    ("field.query", "Filter"),
    ("field.q", "Text"),
    ("field.cursor", "Page"),
    ("field.sort", "Sort"),
    ("field.user", "User"),
    ("field.description_group", "Description"),
    ("none", "—"),
    ("yes", "Yes"),
    ("no", "No"),
    ("unassigned", "Unassigned"),
    ("state.new", "New"),
    ("state.in_progress", "In progress"),
    ("state.on_hold", "On hold"),
    ("state.resolved", "Resolved"),
    ("state.closed", "Closed"),
    ("state.cancelled", "Cancelled"),
    ("hold.awaiting_caller", "Awaiting caller"),
    ("hold.awaiting_supplier", "Awaiting supplier"),
    ("hold.awaiting_change", "Awaiting change"),
    ("resolution.fixed", "Fixed"),
    ("resolution.workaround", "Workaround"),
    ("resolution.not_reproducible", "Not reproducible"),
    ("resolution.user_error", "User error"),
    ("resolution.duplicate", "Duplicate"),
    ("resolution.resolved_by_caller", "Resolved by caller"),
    ("priority.1", "1 – Critical"),
    ("priority.2", "2 – High"),
    ("priority.3", "3 – Moderate"),
    ("priority.4", "4 – Low"),
    ("priority.5", "5 – Planning"),
    ("level.1", "1 – High"),
    ("level.2", "2 – Medium"),
    ("level.3", "3 – Low"),
    ("role.requester", "Requester"),
    ("role.agent", "Agent"),
    ("role.admin", "Administrator"),
    ("link.relates_to", "Relates to"),
    ("link.duplicate_of", "Duplicate of"),
    ("link.caused_by", "Caused by"),
    // Incident page
    ("incident.details", "Details"),
    ("incident.edit", "Edit"),
    ("incident.save", "Save changes"),
    ("incident.saved", "Saved."),
    ("incident.stale", "Someone else changed this incident while you were editing it. Your changes were NOT saved. The form now shows the current values; compare, then apply your changes again."),
    ("incident.requester_help", "The caller's e-mail. Left empty, the incident is filed as your own."),
    ("incident.unsaved", "Not saved; your text, to copy:"),
    ("portal.stale", "Your ticket changed while you were looking at it, so nothing was done. Here it is as it is now: have a look, then decide again."),
    ("form.stale", "Someone else changed this while you were editing it. Your changes were NOT saved. The form now shows the current values; compare, then apply your changes again."),
    ("incident.your_value", "Your value"),
    ("incident.current_value", "Current value"),
    ("incident.actions", "Actions"),
    ("action.start", "Start work"),
    ("action.hold", "Put on hold"),
    ("action.resolve", "Resolve"),
    ("action.close", "Close"),
    ("action.cancel", "Cancel incident"),
    ("action.reopen", "Reopen"),
    ("incident.journal", "Journal"),
    ("incident.reply", "Public reply"),
    ("incident.work_note", "Internal work note"),
    ("incident.system", "System"),
    ("incident.add_reply", "Add to journal"),
    ("incident.add_work_note", "Add work note"),
    ("incident.no_journal", "No entries yet."),
    ("incident.history", "History"),
    ("incident.no_history", "No changes recorded."),
    ("incident.attachments", "Attachments"),
    ("incident.no_attachments", "No attachments."),
    ("incident.upload", "Upload"),
    ("incident.links", "Links"),
    ("incident.no_links", "No links."),
    ("incident.add_link", "Add link"),
    ("incident.create", "Create incident"),
    ("incident.new_title", "New incident"),
    ("incident.unknown_requester", "no user has this e-mail"),
    ("history.when", "When"),
    ("history.who", "Who"),
    ("history.field", "Field"),
    ("history.old", "Old value"),
    ("history.new", "New value"),
    ("journal.by", "by"),
    ("size.bytes", "bytes"),
    ("errors.summary", "Please correct the following:"),
    // Portal
    ("portal.title", "My tickets"),
    ("portal.report", "Report an incident"),
    ("portal.submit", "Send"),
    ("portal.none", "You have no tickets."),
    ("portal.conversation", "Conversation"),
    ("portal.reply", "Reply"),
    ("portal.resolved_note", "We think this is resolved. Is it?"),
    ("portal.confirm", "Confirm resolution"),
    ("portal.reopen", "Reopen — it is not solved"),
    ("portal.urgency_help", "How urgently do you need this fixed?"),
    // Admin
    ("admin.title", "Administration"),
    ("admin.users", "Users"),
    ("admin.groups", "Groups"),
    ("admin.categories", "Categories"),
    ("admin.services", "Services"),
    ("admin.matrix", "Priority matrix"),
    ("admin.create_user", "Create user"),
    ("admin.update", "Update"),
    ("admin.create_group", "Create group"),
    ("admin.members", "Members"),
    ("admin.agreements", "Service level agreements"),
    ("sla.list_title", "Service level agreements"),
    ("sla.all", "Agreements"),
    ("sla.create", "Create agreement"),
    ("sla.settings", "Agreement"),
    ("sla.save", "Save agreement"),
    ("sla.kind", "Kind"),
    ("sla.kind.sla", "SLA (with a customer)"),
    ("sla.kind.ola", "OLA (with an internal group)"),
    ("sla.kind.uc", "Underpinning contract (with a supplier)"),
    ("sla.active", "Active"),
    ("sla.yes", "Yes"),
    ("sla.no", "No"),
    ("sla.customer", "Customer organisation (SLA)"),
    ("sla.any_customer", "Every customer"),
    ("sla.group", "Internal group (OLA)"),
    ("sla.no_group", "None"),
    ("sla.supplier", "Supplier (underpinning contract)"),
    ("sla.no_supplier", "None"),
    ("sla.services", "Services covered (none ticked: every service)"),
    ("sla.conditions", "Applies to"),
    ("sla.conditions_hint", "Record types, priorities, organisations and services; in each row that has a tick, the record must match one."),
    ("sla.type.incident", "Incidents"),
    ("sla.cond.types", "Record types"),
    ("sla.cond.organisations", "Organisations"),
    ("sla.cond.services", "Services"),
    ("sla.targets", "Targets"),
    ("sla.targets_hint", "Business minutes on a calendar. A target for a service or category wins over one for a priority only. Leave a row empty to skip it; empty its name and minutes to remove it."),
    ("sla.minutes", "Minutes"),
    ("sla.calendar", "Calendar"),
    ("sla.always", "24x7"),
    ("sla.any_priority", "Any priority"),
    ("sla.any_service", "Any service"),
    ("sla.any_category", "Any category"),
    ("sla.stop_on", "Stops on"),
    ("sla.stop_on.default", "Default (response or resolution, by name)"),
    ("sla.stop_on.response", "First response"),
    ("sla.stop_on.in_progress", "Work started"),
    ("sla.stop_on.resolution", "Resolution"),
    ("sla.thresholds", "Warnings and escalations"),
    ("sla.thresholds_hint", "At a percentage of each target (100 is the breach), do up to two things; rows with the same percentage add up."),
    ("sla.percent", "Percent"),
    ("sla.actions", "Actions"),
    ("sla.no_action", "Nothing"),
    ("sla.action.notify_assignee", "Notify the assignee"),
    ("sla.action.notify_group", "Notify the group"),
    ("sla.action.notify_manager", "Notify the group's manager"),
    ("sla.action.escalate", "Mark as escalated"),
    ("sla.action.raise_priority", "Raise the priority"),
    ("sla.action.reassign", "Re-assign to"),
    ("sla.pause_on", "Clocks pause while on hold"),
    ("sla.response_on", "First response is"),
    ("sla.response_on.either", "A reply or an assignment, whichever comes first"),
    ("sla.response_on.first_reply", "The first reply to the requester"),
    ("sla.response_on.assignment", "Assignment to a person"),
    ("sla.reopen", "A reopened record's resolution clock"),
    ("sla.reopen.resume", "Runs on from where it stopped"),
    ("sla.reopen.restart", "Starts afresh"),
    ("admin.add_member", "Add member by e-mail"),
    ("admin.manager", "Manager (told when the group's service levels are at risk)"),
    ("admin.no_manager", "No manager"),
    ("admin.set_manager", "Set manager"),
    ("admin.remove", "Remove"),
    ("admin.create_category", "Create category"),
    ("admin.top_level", "(top level)"),
    ("admin.create_service", "Create service"),
    ("admin.save_matrix", "Save matrix"),
    ("admin.matrix_help", "Priority (1 critical to 5 planning) for each impact (rows) and urgency (columns)."),
    ("admin.saved", "Saved."),
    ("admin.settings", "Incident settings"),
    ("admin.auto_close_days", "Days before a resolved incident closes itself"),
    ("admin.auto_close_help", "The requester can confirm or reopen until then. 0 to 365; applies to incidents resolved from now on."),
    ("admin.save_settings", "Save settings"),
    // Errors
    ("error.title", "Error"),
    ("error.404", "This page does not exist, or you may not see it."),
    ("error.403", "You may not do this. If you submitted a form, reload the page and try again."),
    ("error.401", "Please log in."),
    ("error.500", "Something went wrong on our side. It has been logged."),
    ("error.other", "The request could not be completed."),
    ("error.request_id", "Request id"),
    ("error.home", "Go to the start page"),
    ("error.duplicate", "is already in use"),
    ("error.choose", "must be chosen from the list"),
    ("error.number", "must be a number"),
    ("error.unknown_email", "no user has this e-mail"),
    ("error.queue_view", "must be a queue or CMDB list view"),
    ("channel.portal", "Portal"),
    ("channel.phone", "Phone"),
    ("channel.email", "E-mail"),
    ("channel.walk_in", "Walk-in"),
    ("channel.api", "API"),
    // --- SLA: agreements, clocks, notifications, reports ---
    ("nav.notifications", "Notifications"),
    ("nav.unread", "{} unread"),
    ("nav.sla_reports", "SLA reports"),
    ("sort.sla_due", "Breaches next"),
    ("sla.queue_column", "SLA left"),
    ("sla.panel", "Service levels"),
    ("sla.no_clocks", "No agreement applies to this incident."),
    ("sla.escalated", "Escalated"),
    ("sla.with_supplier", "With supplier"),
    ("sla.target", "Target"),
    ("sla.agreement", "Agreement"),
    ("sla.state", "State"),
    ("sla.due", "Due"),
    ("sla.report.stopped", "Stopped"),
    ("sla.elapsed", "Elapsed (business time)"),
    ("sla.remaining", "Remaining (business time)"),
    ("sla.history", "Clock history"),
    ("sla.event", "Event"),
    ("sla.ev.attach", "Agreement applied"),
    ("sla.ev.start", "Started"),
    ("sla.ev.pause", "Paused"),
    ("sla.ev.resume", "Resumed"),
    ("sla.ev.stop", "Stopped"),
    ("sla.ev.reopen", "Reopened"),
    ("sla.ev.restart", "Restarted"),
    ("sla.ev.cancel", "Cancelled"),
    ("sla.ev.revive", "Revived"),
    ("sla.ev.threshold", "Threshold reached"),
    ("sla.ev.retarget", "New target"),
    ("sla.state.running", "Running"),
    ("sla.state.paused", "Paused"),
    ("sla.state.met", "Met"),
    ("sla.state.breached", "Breached"),
    ("sla.state.cancelled", "Cancelled"),
    ("sla.notifications", "Notifications"),
    ("sla.no_notifications", "You have no notifications."),
    ("sla.mark_all_read", "Mark all as read"),
    ("sla.unread", "unread"),
    ("sla.sla_warning", "SLA warning"),
    ("sla.sla_breach", "SLA breach"),
    ("sla.report", "SLA compliance"),
    ("sla.report.from", "From"),
    ("sla.report.to", "To"),
    ("sla.report.by", "Group by"),
    ("sla.report.show", "Show"),
    ("sla.report.csv", "Download as CSV"),
    ("sla.report.total", "Measured"),
    ("sla.report.met", "Met"),
    ("sla.report.breached", "Breached"),
    ("sla.report.compliance", "Compliance"),
    ("sla.report.avg_response", "Average response (business time)"),
    ("sla.report.avg_resolution", "Average resolution (business time)"),
    ("sla.report.chart", "Compliance by group, in percent"),
    ("sla.report.empty", "No clocks were stopped in this period."),
    ("sla.report.breaches", "Breaches"),
    ("sla.report.chain", "Time with groups and suppliers"),
    ("sla.by.agreement", "Agreement"),
    ("sla.by.service", "Service"),
    ("sla.by.organisation", "Customer organisation"),
    ("sla.by.group", "Assignment group"),
    ("sla.by.month", "Month"),
    ("sla.what_if", "What if"),
    ("sla.what_if.intro", "Replays the service levels of a period against another calendar or target, from the recorded clock events. Nothing is changed."),
    ("sla.what_if.calendar", "Measure on calendar"),
    ("sla.what_if.as_configured", "as configured"),
    ("sla.what_if.minutes", "Target in minutes"),
    ("sla.what_if.run", "Replay"),
    ("sla.what_if.before", "Compliance as measured"),
    ("sla.what_if.after", "Compliance if"),
    ("sla.what_if.changed", "Outcomes that would change"),
    // --- calendars ---
    ("admin.calendars", "Business calendars"),
    ("calendar.list_title", "Business calendars"),
    ("calendar.all", "Calendars"),
    ("calendar.create", "Create calendar"),
    ("calendar.time_zone", "Time zone"),
    ("calendar.time_zone_hint", "An IANA name, e.g. Europe/Copenhagen or America/New_York."),
    ("calendar.weekly", "Weekly working hours"),
    ("calendar.hours_hint", "Ranges like 08:00-12:00, 12:30-16:00; 24:00 ends the day; empty means closed."),
    ("calendar.day.monday", "Monday"),
    ("calendar.day.tuesday", "Tuesday"),
    ("calendar.day.wednesday", "Wednesday"),
    ("calendar.day.thursday", "Thursday"),
    ("calendar.day.friday", "Friday"),
    ("calendar.day.saturday", "Saturday"),
    ("calendar.day.sunday", "Sunday"),
    ("calendar.settings", "Name, time zone and hours"),
    ("calendar.save", "Save calendar"),
    ("calendar.exceptions", "Holidays and exceptions"),
    ("calendar.overrides", "Date overrides"),
    ("calendar.overrides_hint", "A date with its own hours replaces the weekly hours and any holiday on that date; empty hours close it."),
    ("calendar.date", "Date"),
    ("calendar.closed", "Closed"),
    ("calendar.closed_hint", "Empty closes the whole day; or ranges like 12:00-24:00."),
    ("calendar.whole_day", "Whole day"),
    ("calendar.closed_day", "Closed"),
    ("calendar.yearly", "Every year"),
    ("calendar.hours", "Hours"),
    ("calendar.note", "Note"),
    ("calendar.add_exception", "Add holiday or exception"),
    ("calendar.add_override", "Add date override"),
    ("calendar.import", "Import holidays from an .ics file"),
    ("calendar.ics_file", "iCalendar file (.ics)"),
    ("calendar.dry_run", "Preview only: show what would be added"),
    ("calendar.import_preview", "Import preview (nothing saved)"),
    ("calendar.import_done", "Holidays imported"),
    ("calendar.import_added", "{} to add."),
    ("calendar.import_unchanged", "{} already in the calendar."),
    ("calendar.choose_file", "choose an .ics file to import"),
    ("calendar.not_utf8", "the file is not UTF-8 text"),
    ("calendar.delete", "Delete calendar"),
    ("field.time_zone", "Time zone"),
    ("field.weekly", "Weekly working hours"),
    ("field.exceptions", "Holidays and exceptions"),
    ("field.ics", "iCalendar file"),
    // --- cmdb ---
    ("nav.cmdb", "CMDB"),
    ("cmdb.title", "Configuration items"),
    ("cmdb.new_ci", "New CI"),
    ("cmdb.classes", "CI classes"),
    ("cmdb.reports", "Asset reports"),
    ("cmdb.import", "Import CIs"),
    ("cmdb.import_file", "File (CSV or JSON)"),
    ("cmdb.import_help", "CSV: a header row with class, name and any of status, owner_id, used_by_id, organisation_id, location_id, supplier_id, cost (in cents), purchased_on, warranty_until, end_of_life and attr.NAME columns, as the CI list's CSV export writes it. JSON: {\"cis\": [...], \"relations\": [...]} as the API takes it. Rows are matched to CIs by their class's identification rule."),
    ("cmdb.import_source", "Source (where the file comes from)"),
    ("cmdb.import_dry_run", "Dry run: report what would happen, write nothing"),
    ("cmdb.import_send", "Import"),
    ("cmdb.import_dry", "Dry run: what the import would do"),
    ("cmdb.import_done", "Imported"),
    ("cmdb.import_refused", "Not imported"),
    ("cmdb.import_created", "Made"),
    ("cmdb.import_updated", "Changed"),
    ("cmdb.import_unchanged", "Unchanged"),
    ("cmdb.import_relations", "Relations made / there already"),
    ("cmdb.import_nothing_written", "Nothing was written. Mend these and send the file again:"),
    ("cmdb.import_dry_hint", "Nothing was written. Send the file again without the dry run to import it."),
    ("cmdb.import_where", "Where"),
    ("cmdb.import_problem", "Problem"),
    ("cmdb.import_choose", "choose a CSV or JSON file"),
    ("cmdb.class", "Class"),
    ("cmdb.status", "Status"),
    ("ci_status.ordered", "Ordered"),
    ("ci_status.in_stock", "In stock"),
    ("ci_status.deployed", "Deployed"),
    ("ci_status.in_repair", "In repair"),
    ("ci_status.retired", "Retired"),
    ("ci_status.disposed", "Disposed"),
    ("cmdb.attribute", "Attribute"),
    ("cmdb.value", "Value"),
    ("cmdb.as_of", "As of (UTC)"),
    ("cmdb.saved_view", "This view:"),
    ("cmdb.relation_attributes", "Attributes (name=value; …), optional"),
    ("cmdb.csv", "Export as CSV"),
    ("cmdb.name", "Name"),
    ("cmdb.attributes", "Attributes"),
    ("cmdb.none", "Nothing here."),
    ("cmdb.showing_as_of", "Shown as it was at"),
    ("cmdb.compare_with", "Compare with (UTC)"),
    ("cmdb.edit", "Edit CI"),
    ("cmdb.version", "Version"),
    ("cmdb.diff", "Changes"),
    ("cmdb.not_yet", "The CI did not exist yet at the first instant."),
    ("cmdb.no_changes", "Nothing changed between these two instants."),
    ("cmdb.field", "Field"),
    ("cmdb.before", "Before"),
    ("cmdb.after", "After"),
    ("cmdb.relations", "Relations"),
    ("cmdb.no_relations", "No relations."),
    ("cmdb.since", "since"),
    ("cmdb.end_relation", "End"),
    ("cmdb.direction", "Direction"),
    ("cmdb.this_ci", "this CI"),
    ("cmdb.other", "other CI"),
    ("cmdb.relation_kind", "Relation"),
    ("cmdb.other_ci", "CI (name or id)"),
    ("cmdb.add_relation", "Add relation"),
    ("cmdb.impact", "Impact"),
    ("cmdb.up", "Up: what depends on it"),
    ("cmdb.down", "Down: what it depends on"),
    ("cmdb.depth", "Depth"),
    ("cmdb.reached", "CIs reached:"),
    ("cmdb.services_at_risk", "Services at risk"),
    ("cmdb.graph_label", "Impact graph"),
    ("cmdb.open_incidents", "Open incidents and problems"),
    ("cmdb.no_incidents", "No open incidents or problems."),
    ("cmdb.history", "History"),
    ("cmdb.when", "When"),
    ("cmdb.by", "By"),
    ("cmdb.next", "Next"),
    ("cmdb.pages", "Pages of the list"),
    ("cmdb.save", "Save"),
    ("cmdb.stale", "Someone else changed this CI since you opened it; reload to see their change."),
    ("cmdb.parent", "Parent class"),
    ("cmdb.own_attributes", "Own attributes"),
    ("cmdb.inherited", "Inherited"),
    ("cmdb.identify_by", "Identified by"),
    ("cmdb.new_class", "New class"),
    ("cmdb.description", "Description"),
    ("cmdb.attr_help", "One per line: name:kind[:required][:unique][:values=a|b][:label=Label]; kinds: text, number, date, enum, ci_ref, user_ref, ip, mac, json."),
    ("cmdb.edit_class", "Edit class"),
    ("cmdb.class_stale", "Someone else saved this class since you opened it. What you typed is below; save again to put it over their change, or reload to see theirs."),
    ("cmdb.inherited_from_parent", "Inherited from its parent"),
    ("cmdb.affected_cis", "Affected CIs"),
    ("cmdb.affected_cis_link", "Affected CIs and services at risk"),
    ("cmdb.remove", "Remove"),
    ("cmdb.link_ci", "Link CI"),
    ("cmdb.assets", "Assets"),
    ("cmdb.checklists", "Leaver checklists"),
    ("cmdb.checklist", "Checklist of"),
    ("cmdb.closed", "closed"),
    ("cmdb.note", "Note"),
    ("cmdb.handed_back", "Handed back"),
    ("cmdb.new_checklist", "New leaver checklist"),
    ("cmdb.report", "Report"),
    ("cmdb.past_eol", "Past end of life"),
    ("cmdb.past_warranty", "Out of warranty"),
    ("cmdb.older_than", "Older than"),
    ("cmdb.years", "Years"),
    ("cmdb.user_assets", "Everything this person holds, and leaver checklists"),
    ("cmdb.shown.owner_id", "Owner"),
    ("cmdb.shown.used_by_id", "Used by"),
    ("cmdb.shown.organisation_id", "Organisation"),
    ("cmdb.shown.location_id", "Location"),
    ("cmdb.shown.supplier_id", "Supplier"),
    ("cmdb.shown.handed_back", "Handed back"),
    ("cmdb.shown.affected_by", "Affected by"),
    ("cmdb.shown.name", "Name"),
    ("cmdb.shown.status", "Status"),
    ("field.owner_id", "Owner (user id or e-mail)"),
    ("field.used_by_id", "Used by (user id or e-mail)"),
    ("field.organisation_id", "Organisation (id)"),
    ("field.location_id", "Location (CI id or name)"),
    ("field.supplier_id", "Supplier (CI id or name)"),
    ("field.cost", "Cost"),
    ("field.purchased_on", "Purchased on"),
    ("field.warranty_until", "Warranty until"),
    ("field.end_of_life", "End of life"),
    // --- problems and knowledge ---
    ("nav.problems", "Problems"),
    ("nav.kb", "Knowledge"),
    ("nav.search", "Search"),
    ("kb.search.title", "Search"),
    ("kb.search.words", "Words"),
    ("kb.search.kind", "Kind"),
    ("kb.search.all", "Everything"),
    ("kb.search.open", "Open or finished"),
    ("kb.search.open.any", "Either"),
    ("kb.search.open.true", "Open incidents and problems"),
    ("kb.search.open.false", "Finished incidents and problems"),
    ("kb.search.service", "Service"),
    ("kb.search.service.any", "Any service"),
    ("kb.search.submit", "Search"),
    ("kb.search.results", "{} results"),
    ("kb.search.result", "1 result"),
    ("kb.search.none", "Nothing found that you may see."),
    ("kb.kind.incident", "Incident"),
    ("kb.kind.problem", "Problem"),
    ("kb.kind.known_error", "Known error"),
    ("kb.kind.article", "Article"),
    ("kb.title", "Knowledge base"),
    ("kb.none", "No articles."),
    ("kb.new", "New article"),
    ("kb.create", "Create draft"),
    ("kb.edit", "Edit article"),
    ("kb.save", "Save as new version"),
    ("kb.back", "Back"),
    ("kb.details", "About this article"),
    ("kb.views", "Views"),
    ("kb.helpful", "Helpful (yes / no)"),
    ("kb.published_at", "Published"),
    ("kb.workflow", "Workflow"),
    ("kb.review_required", "Review is required: another reviewer publishes."),
    ("kb.versions", "Versions"),
    ("kb.version", "Version {}"),
    ("kb.diff", "Changes"),
    ("kb.markdown_help", "Markdown: **bold**, lists, links, tables."),
    ("kb.field.title", "Title"),
    ("kb.field.body", "Text"),
    ("kb.field.audience", "Audience"),
    ("kb.field.groups", "Groups that may read a restricted article"),
    ("kb.field.groups_help", "Only for the restricted audience; agents outside these groups do not see it."),
    ("kb.field.review_at", "Review by"),
    ("kb.field.expires_at", "Expires on"),
    ("kb.audience.public", "Public (requesters too)"),
    ("kb.audience.internal", "Internal (the desk)"),
    ("kb.audience.restricted", "Restricted (its groups)"),
    ("kb.state.draft", "Draft"),
    ("kb.state.review", "In review"),
    ("kb.state.published", "Published"),
    ("kb.state.retired", "Retired"),
    ("kb.step.draft", "Back to draft"),
    ("kb.step.review", "Submit for review"),
    ("kb.step.published", "Publish"),
    ("kb.step.retired", "Retire"),
    ("kb.feedback.question", "Did this help?"),
    ("kb.feedback.comment", "Comment (optional)"),
    ("kb.feedback.yes", "Yes, it helped"),
    ("kb.feedback.no", "No"),
    ("kb.feedback.thanks", "Thank you for your feedback."),
    ("kb.panel.title", "Suggested knowledge"),
    ("kb.panel.none", "No matching articles or known errors."),
    ("kb.panel.open", "Show suggested articles and known errors"),
    ("kb.panel.apply", "Apply workaround"),
    ("kb.panel.resolved_by", "Resolved with this article"),
    ("kb.panel.draft", "Draft an article from this incident"),
    ("kb.report.title", "Knowledge and problem report"),
    ("kb.report.fcr", "First-contact resolution"),
    ("kb.report.knowledge", "Resolved with an article or known error"),
    ("kb.report.deflection", "Deflection rate (portal)"),
    ("kb.report.top", "Top problems by incidents"),
    ("kb.report.top_time", "Top problems by time spent"),
    ("kb.report.incidents", "Incidents"),
    ("kb.report.hours", "Hours open"),
    ("kb.report.before", "Before resolution"),
    ("kb.report.after", "After resolution"),
    ("problem.title", "Problems"),
    ("problem.kedb", "Known errors"),
    ("problem.all", "All problems"),
    ("problem.none", "No problems."),
    ("problem.new", "New problem"),
    ("problem.create", "Create problem"),
    ("problem.candidates", "Recurring incidents: proposed problems"),
    ("problem.no_candidates", "No proposals waiting."),
    ("problem.detect", "Look for recurring incidents now"),
    ("problem.candidate", "{} similar incidents"),
    ("problem.accept", "Accept as problem"),
    ("problem.reject", "Reject"),
    ("problem.analysis", "Root-cause analysis"),
    ("problem.root_cause", "Root cause"),
    ("problem.rca_method", "Method"),
    ("problem.contributing", "Contributing factors"),
    ("problem.workaround", "Workaround"),
    ("problem.fix", "Permanent fix"),
    ("problem.on_resolve", "When resolved, the open linked incidents are"),
    ("problem.notify", "told (a journal line)"),
    ("problem.resolve_them", "resolved with the fix"),
    ("problem.save", "Save"),
    ("problem.manager_only", "Publishing a known error, resolving and closing are for problem managers."),
    ("problem.incidents", "Linked incidents"),
    ("problem.incident_count", "{} incidents"),
    ("problem.open_count", "{} open"),
    ("problem.hours", "{} hours open in total"),
    ("problem.link_incident", "Incident number"),
    ("problem.link", "Link incident"),
    ("problem.state.new", "New"),
    ("problem.state.under_investigation", "Under investigation"),
    ("problem.state.root_cause_known", "Root cause known"),
    ("problem.state.known_error", "Known error"),
    ("problem.state.resolved", "Resolved"),
    ("problem.state.closed", "Closed"),
    ("problem.rca.five_whys", "5 whys"),
    ("problem.rca.ishikawa", "Ishikawa"),
    ("problem.rca.fault_tree", "Fault tree"),
    ("problem.rca.other", "Other"),
    ("role.problem_manager", "Problem manager"),
    ("link.workaround_from", "Workaround from"),
    ("link.resolved_by", "Resolved by"),
    ("portal.suggest.title", "These articles may answer your question"),
    ("portal.suggest.solved", "This solved it, don't file"),
    ("portal.suggest.check", "Check for answers first"),
    ("portal.deflected", "Glad it helped. Nothing was filed."),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_picks_a_spoken_language_or_english() {
        let mut h = HeaderMap::new();
        assert_eq!(Lang::from_headers(&h), Lang::En);
        h.insert(header::ACCEPT_LANGUAGE, "da-DK,da;q=0.9,en;q=0.5".parse().unwrap());
        assert_eq!(Lang::from_headers(&h), Lang::En);
        h.insert(header::ACCEPT_LANGUAGE, "garbage;;;".parse().unwrap());
        assert_eq!(Lang::from_headers(&h), Lang::En);
    }

    #[test]
    fn unknown_keys_show_themselves_and_args_are_filled() {
        let tr = Tr::new(Lang::En);
        assert_eq!(tr.t("login.title"), "Log in");
        assert_eq!(tr.t("no.such.key"), "no.such.key");
        assert_eq!(tr.f("login.throttled", &7), "Too many failed attempts. Try again in 7 seconds.");
        assert_eq!(tr.state("on_hold"), "On hold");
    }

    /// Every `t("...")` a template asks for exists in the English table, so
    /// no page shows a raw key.
    #[test]
    fn every_template_key_is_translated() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/templates");
        let mut missing = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            for part in text.split(".t(\"").skip(1) {
                let key = part.split('"').next().unwrap();
                if lookup(EN, key).is_none() {
                    missing.push(key.to_string());
                }
            }
        }
        assert!(missing.is_empty(), "untranslated keys: {missing:?}");
    }
}

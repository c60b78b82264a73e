//! The web UI: server-rendered pages that work without JavaScript and get
//! better with htmx.

mod admin;
mod agreements;
mod assets;
mod auth;
mod calendars;
mod cmdb;
mod cmdb_graph;
mod errors;
pub mod i18n;
mod incident;
mod knowledge;
mod portal;
mod queue;
mod sla;
mod web;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;

use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(auth::home))
        .route("/assets/htmx.min.js", get(assets::htmx))
        .route("/assets/varde.css", get(assets::css))
        .route("/login", get(auth::login_page).post(auth::login))
        .route("/logout", post(auth::logout))
        .route("/account/password", get(auth::password_page).post(auth::change_password))
        .route("/queue/{kind}", get(queue::page))
        .route("/queue/filters", post(queue::save_filter))
        .route("/queue/filters/{id}/delete", post(queue::delete_filter))
        .route("/incidents/new", get(incident::new_page).post(incident::create))
        .route("/incidents/{number}", get(incident::page).post(incident::update))
        .route("/incidents/{number}/state", post(incident::change_state))
        .route("/incidents/{number}/journal", post(incident::add_journal))
        .route(
            "/incidents/{number}/attachments",
            // The real limit is the configured one, checked by the service;
            // this only stops bodies far beyond any sensible setting.
            post(incident::upload).layer(DefaultBodyLimit::max(64 * 1024 * 1024)),
        )
        .route("/incidents/{number}/links", post(incident::add_link))
        .route("/attachments/{id}", get(incident::download))
        .route("/portal", get(portal::home).post(portal::create))
        .route("/portal/tickets/{number}", get(portal::ticket))
        .route("/portal/tickets/{number}/reply", post(portal::reply))
        .route("/portal/tickets/{number}/decision", post(portal::decide))
        .route("/reports/sla", get(sla::report))
        .route("/reports/sla/what-if", get(sla::what_if))
        .route("/notifications", get(sla::notifications))
        .route("/notifications/read", post(sla::read_all))
        .route("/portal/check", post(portal::check))
        .route("/portal/suggestions", get(knowledge::portal_suggestions))
        .route("/portal/deflect", post(knowledge::portal_deflect))
        .route("/search", get(knowledge::search))
        .route("/kb", get(knowledge::articles).post(knowledge::create_article))
        .route("/kb/{number}", get(knowledge::article).post(knowledge::update_article))
        .route("/kb/{number}/attachments", post(knowledge::upload).layer(DefaultBodyLimit::max(64 * 1024 * 1024)))
        .route("/kb/{number}/state", post(knowledge::article_step))
        .route("/kb/{number}/feedback", post(knowledge::article_feedback))
        .route("/kb/{number}/diff", get(knowledge::article_diff))
        .route("/problems", get(knowledge::problems).post(knowledge::create_problem))
        .route("/problems/detect", post(knowledge::detect))
        .route("/problems/candidates/{id}", post(knowledge::decide_candidate))
        .route("/problems/{number}", get(knowledge::problem).post(knowledge::update_problem))
        .route("/problems/{number}/incidents", post(knowledge::link_incident))
        .route("/incidents/{number}/knowledge", get(knowledge::incident_panel).post(knowledge::incident_apply))
        .route("/incidents/{number}/draft-article", post(knowledge::incident_draft))
        .route("/reports/knowledge", get(knowledge::report))
        .route("/admin", get(admin::home))
        .route("/admin/users", post(admin::create_user))
        .route("/admin/users/{id}", post(admin::update_user))
        .route("/admin/groups", post(admin::create_group))
        .route("/admin/groups/{id}/members", post(admin::add_member))
        .route("/admin/groups/{id}/manager", post(admin::set_manager))
        .route("/admin/groups/{id}/members/{user}/remove", post(admin::remove_member))
        .route("/admin/categories", post(admin::create_category))
        .route("/admin/services", post(admin::create_service))
        .route("/admin/matrix", post(admin::set_matrix))
        .route("/admin/settings", post(admin::set_settings))
        .route("/admin/slas", get(agreements::list).post(agreements::create))
        .route("/admin/slas/{id}", get(agreements::page).post(agreements::update))
        .route("/admin/calendars", get(calendars::list).post(calendars::create))
        .route("/admin/calendars/{id}", get(calendars::page).post(calendars::update))
        .route("/admin/calendars/{id}/exceptions", post(calendars::add_exception))
        .route("/admin/calendars/{id}/overrides", post(calendars::add_override))
        .route("/admin/calendars/{id}/{kind}/{index}/remove", post(calendars::remove_entry))
        .route("/admin/calendars/{id}/delete", post(calendars::delete))
        .route("/admin/calendars/{id}/import", post(calendars::import))
        .merge(cmdb_routes())
        .fallback(errors::not_found)
        .layer(axum::middleware::from_fn(errors::html_errors))
}

/// The CMDB's pages (kept together so merges of other areas stay apart).
fn cmdb_routes() -> Router<AppState> {
    Router::new()
        .route("/cmdb", get(cmdb::list))
        .route("/cmdb/new", get(cmdb::new_page).post(cmdb::create))
        .route("/cmdb/classes", get(cmdb::classes).post(cmdb::create_class))
        .route("/cmdb/classes/{id}/edit", get(cmdb::class_edit).post(cmdb::update_class))
        .route("/cmdb/reports", get(cmdb::reports))
        .route("/cmdb/import", get(cmdb::import_page).post(cmdb::import).layer(DefaultBodyLimit::max(64 * 1024 * 1024)))
        .route("/cmdb/cis/{id}", get(cmdb::ci_page))
        .route("/cmdb/cis/{id}/edit", get(cmdb::edit_page).post(cmdb::edit))
        .route("/cmdb/cis/{id}/relations", post(cmdb::add_relation))
        .route("/cmdb/cis/{id}/relations/{rel}/end", post(cmdb::end_relation))
        .route("/cmdb/incidents/{number}", get(cmdb::incident_cis).post(cmdb::link_incident))
        .route("/cmdb/incidents/{number}/cis/{ci}/remove", post(cmdb::unlink_incident))
        .route("/cmdb/problems/{number}", get(cmdb::problem_cis).post(cmdb::link_problem))
        .route("/cmdb/problems/{number}/cis/{ci}/remove", post(cmdb::unlink_problem))
        .route("/cmdb/people/{id}", get(cmdb::person))
        .route("/cmdb/people/{id}/checklists", post(cmdb::create_checklist))
        .route("/cmdb/checklists/{id}/items/{item}", post(cmdb::complete_item))
}

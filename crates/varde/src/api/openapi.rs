//! The OpenAPI 3 document, assembled from the handlers' annotations.

use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{calendars, cmdb, directory, incidents, sla};

#[derive(OpenApi)]
#[openapi(
    info(title = "Varde", description = "IT service management: the REST API. Errors are RFC 9457 problem details."),
    paths(
        incidents::list, incidents::create, incidents::read, incidents::update,
        incidents::journal, incidents::add_journal, incidents::attachments, incidents::upload, incidents::download,
        incidents::links, incidents::add_link, incidents::remove_link,
        incidents::watchers, incidents::add_watcher, incidents::remove_watcher, incidents::history,
        directory::list_users, directory::create_user, directory::me, directory::read_user, directory::update_user,
        directory::change_password, directory::tokens, directory::create_token, directory::revoke_token,
        directory::groups, directory::create_group, directory::read_group, directory::members,
        directory::add_member, directory::set_manager, directory::remove_member, directory::organisations, directory::create_organisation,
        directory::services, directory::create_service, directory::categories, directory::create_category,
        directory::matrix, directory::set_matrix, directory::incident_settings, directory::set_incident_settings,
        sla::list, sla::create, sla::read, sla::update, sla::suppliers, sla::create_supplier, sla::record,
        sla::set_supplier, sla::notifications, sla::notification_count, sla::read_notification,
        sla::read_all_notifications, sla::report, sla::report_csv, sla::what_if,
        calendars::list, calendars::create, calendars::read, calendars::update, calendars::remove,
        calendars::business_time, calendars::import_holidays,
        cmdb::list_classes, cmdb::create_class, cmdb::read_class, cmdb::update_class,
        cmdb::list, cmdb::list_csv, cmdb::create, cmdb::read, cmdb::update, cmdb::import,
        cmdb::relations, cmdb::add_relation, cmdb::end_relation, cmdb::impact, cmdb::history, cmdb::diff,
        cmdb::open_records, cmdb::incident_cis, cmdb::link_incident_ci, cmdb::unlink_incident_ci,
        cmdb::problem_cis, cmdb::link_problem_ci, cmdb::unlink_problem_ci,
        cmdb::assets, cmdb::checklists, cmdb::create_checklist, cmdb::complete_item, cmdb::asset_report,
    ),
    modifiers(&Bearer),
    security(("bearer" = [])),
    tags((name = "incidents", description = "Incident management on the record kernel"),
         (name = "directory", description = "People, groups, organisations and API tokens"),
         (name = "configuration", description = "Services, categories and the priority matrix"),
         (name = "sla", description = "Service level agreements, clocks, notifications and reports"),
         (name = "calendars", description = "Business calendars: working hours, holidays, business-time arithmetic"),
         (name = "cmdb", description = "Configuration items, classes, relations, impact, history and assets")),
)]
pub struct ApiDoc;

struct Bearer;

impl Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(c) = openapi.components.as_mut() {
            c.add_security_scheme("bearer", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
        }
    }
}

pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.merge(super::knowledge::KnowledgeDoc::openapi());
    doc
}

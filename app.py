"""optout: the Chalice app. Registers blueprints and event handlers; nothing else."""

from chalice import Chalice, Rate

from chalicelib import observability
from chalicelib.api import admin, contacts, dnd, send_check, settings, twilio, unsubscribe
from chalicelib.api import crm as crm_api
from chalicelib.api import docs as docs_api  # GET /openapi.json
from chalicelib.api import email_webhooks as email_webhooks_api
from chalicelib.api import exclusions as exclusions_api
from chalicelib.api import flags as flags_api
from chalicelib.api import jobs as jobs_api
from chalicelib.api import keys as keys_api
from chalicelib.api import replies as replies_api
from chalicelib.api import sequences as sequences_api
from chalicelib.api import suppressions as suppressions_api
from chalicelib.api import topics as topics_api
from chalicelib.config import check_deployed_start, deployed_name

check_deployed_start()  # R20: in Lambda, a stage without its secrets fails its cold start

# configure_logs=False: the Powertools Logger (chalicelib.observability) owns the "optout" logger.
app = Chalice(app_name="optout", configure_logs=False)
# Correlation ids + Lambda context in every log line, X-Ray in Lambda, one EMF metrics flush per invocation.
observability.install(app)

for blueprint in (admin.bp, settings.bp, contacts.bp, dnd.bp, send_check.bp):
    app.register_blueprint(blueprint)
app.register_blueprint(crm_api.bp)
app.register_blueprint(unsubscribe.bp)
app.register_blueprint(twilio.bp)
app.register_blueprint(email_webhooks_api.bp)
app.register_blueprint(docs_api.bp)
app.register_blueprint(keys_api.bp)
app.register_blueprint(suppressions_api.bp)
for blueprint in (exclusions_api.bp, sequences_api.bp, jobs_api.bp, replies_api.bp, topics_api.bp, flags_api.bp):
    app.register_blueprint(blueprint)


@app.route("/health", methods=["GET"])
def health():
    return {"status": "ok"}


@app.on_sqs_message(queue=deployed_name("crm-writeback"), batch_size=10)
def on_crm_writeback(event):
    from chalicelib.consumers.crm_writeback import handle_crm_writeback

    handle_crm_writeback(event.to_dict())


@app.on_sqs_message(queue=deployed_name("unenroll"), batch_size=10)
def on_unenroll_batch(event):
    """Bulk unenrollment plan steps and batches; see chalicelib/consumers/unenroll.py for how
    only failed records are retried (successes deleted here, then raise)."""
    from chalicelib.consumers.unenroll import handle_unenroll_event
    from chalicelib.services.context import get_services

    handle_unenroll_event(get_services(), event.to_dict()["Records"])


@app.on_sqs_message(queue=deployed_name("suppression-jobs"), batch_size=1)
def on_suppression_job(event):
    """Suppression import chunks and exports (R18); see chalicelib/services/suppressions.py."""
    from chalicelib.consumers.suppression_jobs import handle_suppression_job_event
    from chalicelib.services.context import get_services

    handle_suppression_job_event(get_services(), event.to_dict()["Records"])


@app.on_sns_message(topic=deployed_name("ses-notifications"))
def on_ses_notification(event):
    from chalicelib.consumers.ses_notifications import handle_ses_notification

    handle_ses_notification(event.message)


@app.schedule(Rate(1, unit=Rate.MINUTES), name="on_outbox_sweep")
def on_outbox_sweep(event):
    """Finish DND follow-ups (events, unenrollment, CRM write-back) a request could not; see
    chalicelib/services/outbox.py."""
    from chalicelib.services.context import get_services
    from chalicelib.services.outbox import sweep_outbox

    sweep_outbox(get_services(), remaining_ms=event.context.get_remaining_time_in_millis)
    # R15: open flags past their 10-business-day deadline, as a metric the FlagsPastDue alarm watches.
    from chalicelib.services.flags import report_overdue_flags

    report_overdue_flags(get_services())

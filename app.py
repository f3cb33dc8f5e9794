"""optout: the Chalice app. Registers blueprints and event handlers; nothing else."""

from chalice import Chalice

from chalicelib.api import admin, contacts, dnd, send_check, settings
from chalicelib.api import crm as crm_api  # also registers the CRM write-back after-change hook
from chalicelib.config import deployed_name

app = Chalice(app_name="optout")

for blueprint in (admin.bp, settings.bp, contacts.bp, dnd.bp, send_check.bp):
    app.register_blueprint(blueprint)
app.register_blueprint(crm_api.bp)


@app.route("/health", methods=["GET"])
def health():
    return {"status": "ok"}


@app.on_sqs_message(queue=deployed_name("crm-writeback"), batch_size=10)
def on_crm_writeback(event):
    from chalicelib.consumers.crm_writeback import handle_crm_writeback

    handle_crm_writeback(event.to_dict())

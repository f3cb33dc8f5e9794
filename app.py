"""optout: the Chalice app. Registers blueprints and event handlers; nothing else."""

from chalice import Chalice

from chalicelib.api import admin, contacts, dnd, send_check, settings

app = Chalice(app_name="optout")

for blueprint in (admin.bp, settings.bp, contacts.bp, dnd.bp, send_check.bp):
    app.register_blueprint(blueprint)


@app.route("/health", methods=["GET"])
def health():
    return {"status": "ok"}

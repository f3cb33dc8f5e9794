"""Every word the unsubscribe pages and the preference center show, one dict per language (R16).

Add a language by adding one dict with the same keys (a unit test checks keys and placeholders)
and listing it in LANGUAGES. ``{sender}`` is the workspace's ``page.brand_name`` or the
language's ``this_sender`` (``{Sender}`` the same at the start of a sentence, capitalized when
generic); sentences are phrased so either reads naturally.
"""

from __future__ import annotations

EN: dict[str, str] = {
    "this_sender": "this sender",
    "logo_alt": "Sender's logo",
    "logo_alt_brand": "{brand}",
    "channel.email": "Email",
    "channel.sms": "Text messages (SMS)",
    "channel.call": "Phone calls",
    "channel.whatsapp": "WhatsApp messages",
    "channel.facebook": "Facebook Messenger messages",
    "channel.gbp": "Google Business Profile messages",
    "unsubscribe.title": "Unsubscribe",
    "unsubscribe.intro": "Confirm below to stop receiving messages from {sender}.",
    "unsubscribe.came_with": "This link came with: {channel}.",
    "unsubscribe.scope_legend": "What would you like to stop?",
    "unsubscribe.scope_sequence": "Only this series of messages",
    "unsubscribe.scope_all": "Everything from {sender}",
    "unsubscribe.keep_legend": "Ways {sender} may still contact you (optional)",
    "unsubscribe.keep_hint": "The way this link came ({channel}) stops in any case. "
    "Tick any other way you still accept.",
    "unsubscribe.button": "Unsubscribe",
    "done.title": "You are unsubscribed",
    "done.stopped": "{Sender} will no longer contact you by: {channels}.",
    "done.kept": "As you asked, {sender} may still contact you by: {channels}.",
    "done.sequence": "You have been removed from this series of messages.",
    "done.all": "You have been removed from all message series.",
    "done.close": "You can close this page.",
    "prefs.title": "Your subscriptions",
    "prefs.intro": "Choose what {sender} may send you. A ticked box means you receive it.",
    "prefs.topic_off": "You are unsubscribed from this topic on every channel.",
    "prefs.everything_legend": "Everything",
    "prefs.everything": "Unsubscribe from everything",
    "prefs.everything_hint": "Stops every message from {sender} on every channel, whatever is ticked above.",
    "prefs.save": "Save my choices",
    "prefs.saved_title": "Your choices are saved",
    "prefs.saved": "Saved. Your choices are shown below.",
    "prefs.unchanged": "Nothing needed to change.",
    "prefs.left_topic": "You are unsubscribed from {topic}. Your other choices are below.",
    "prefs.no_topics": "There is nothing to choose from yet.",
    "invalid.title": "Link not valid",
    "invalid.body": "This unsubscribe link may be incomplete. Please use the unsubscribe link in a recent "
    "message, or reply to that message and ask the sender to stop.",
    "retry.title": "Please try again",
    "retry.body": "We could not read your choice. Please go back and submit the form again.",
    "unavailable.title": "Please try again in a moment",
    "unavailable.body": "Your request could not be recorded just now, and nothing was lost. Please submit it "
    "again shortly.",
    "footer.privacy": "Privacy policy",
    "footer.support": "Questions: {email}",
}

FR: dict[str, str] = {
    "this_sender": "cet expéditeur",
    "logo_alt": "Logo de l'expéditeur",
    "logo_alt_brand": "{brand}",
    "channel.email": "E-mail",
    "channel.sms": "SMS",
    "channel.call": "Appels téléphoniques",
    "channel.whatsapp": "Messages WhatsApp",
    "channel.facebook": "Messages Facebook Messenger",
    "channel.gbp": "Messages Google Business Profile",
    "unsubscribe.title": "Se désabonner",
    "unsubscribe.intro": "Confirmez ci-dessous pour ne plus recevoir les messages envoyés par {sender}.",
    "unsubscribe.came_with": "Ce lien est arrivé par : {channel}.",
    "unsubscribe.scope_legend": "Que souhaitez-vous arrêter ?",
    "unsubscribe.scope_sequence": "Seulement cette série de messages",
    "unsubscribe.scope_all": "Tout ce qu'envoie {sender}",
    "unsubscribe.keep_legend": "Moyens par lesquels {sender} peut encore vous contacter (facultatif)",
    "unsubscribe.keep_hint": "Le moyen par lequel ce lien est arrivé ({channel}) s'arrête dans tous les cas. "
    "Cochez les autres moyens que vous acceptez encore.",
    "unsubscribe.button": "Se désabonner",
    "done.title": "Votre désabonnement est enregistré",
    "done.stopped": "{Sender} ne vous contactera plus par : {channels}.",
    "done.kept": "Comme demandé, {sender} peut encore vous contacter par : {channels}.",
    "done.sequence": "Vous avez été retiré de cette série de messages.",
    "done.all": "Vous avez été retiré de toutes les séries de messages.",
    "done.close": "Vous pouvez fermer cette page.",
    "prefs.title": "Vos abonnements",
    "prefs.intro": "Choisissez ce que {sender} peut vous envoyer. Une case cochée signifie que vous le recevez.",
    "prefs.topic_off": "Vous êtes désabonné de ce sujet sur tous les canaux.",
    "prefs.everything_legend": "Tout",
    "prefs.everything": "Me désabonner de tout",
    "prefs.everything_hint": "Arrête tous les messages envoyés par {sender}, sur tous les canaux, "
    "quelles que soient les cases cochées ci-dessus.",
    "prefs.save": "Enregistrer mes choix",
    "prefs.saved_title": "Vos choix sont enregistrés",
    "prefs.saved": "C'est enregistré. Vos choix sont affichés ci-dessous.",
    "prefs.unchanged": "Rien n'avait besoin de changer.",
    "prefs.left_topic": "Vous êtes désabonné de : {topic}. Vos autres choix sont ci-dessous.",
    "prefs.no_topics": "Il n'y a encore rien à choisir.",
    "invalid.title": "Lien non valide",
    "invalid.body": "Ce lien de désabonnement est peut-être incomplet. Utilisez le lien de désabonnement d'un "
    "message récent, ou répondez à ce message pour demander à l'expéditeur d'arrêter.",
    "retry.title": "Veuillez réessayer",
    "retry.body": "Nous n'avons pas pu lire votre choix. Revenez en arrière et envoyez à nouveau le formulaire.",
    "unavailable.title": "Veuillez réessayer dans un instant",
    "unavailable.body": "Votre demande n'a pas pu être enregistrée pour le moment, et rien n'a été perdu. "
    "Envoyez-la à nouveau dans quelques instants.",
    "footer.privacy": "Politique de confidentialité",
    "footer.support": "Questions : {email}",
}

ES: dict[str, str] = {
    "this_sender": "este remitente",
    "logo_alt": "Logotipo del remitente",
    "logo_alt_brand": "{brand}",
    "channel.email": "Correo electrónico",
    "channel.sms": "Mensajes de texto (SMS)",
    "channel.call": "Llamadas telefónicas",
    "channel.whatsapp": "Mensajes de WhatsApp",
    "channel.facebook": "Mensajes de Facebook Messenger",
    "channel.gbp": "Mensajes de Google Business Profile",
    "unsubscribe.title": "Darse de baja",
    "unsubscribe.intro": "Confirme abajo para dejar de recibir los mensajes enviados por {sender}.",
    "unsubscribe.came_with": "Este enlace llegó por: {channel}.",
    "unsubscribe.scope_legend": "¿Qué desea dejar de recibir?",
    "unsubscribe.scope_sequence": "Solo esta serie de mensajes",
    "unsubscribe.scope_all": "Todo lo que envía {sender}",
    "unsubscribe.keep_legend": "Medios por los que {sender} aún puede contactarle (opcional)",
    "unsubscribe.keep_hint": "El medio por el que llegó este enlace ({channel}) se detiene en cualquier caso. "
    "Marque los otros medios que aún acepta.",
    "unsubscribe.button": "Darse de baja",
    "done.title": "Se ha dado de baja",
    "done.stopped": "{Sender} ya no le contactará por: {channels}.",
    "done.kept": "Como pidió, {sender} aún puede contactarle por: {channels}.",
    "done.sequence": "Se le ha retirado de esta serie de mensajes.",
    "done.all": "Se le ha retirado de todas las series de mensajes.",
    "done.close": "Puede cerrar esta página.",
    "prefs.title": "Sus suscripciones",
    "prefs.intro": "Elija lo que {sender} puede enviarle. Una casilla marcada significa que lo recibe.",
    "prefs.topic_off": "Se ha dado de baja de este tema en todos los canales.",
    "prefs.everything_legend": "Todo",
    "prefs.everything": "Darme de baja de todo",
    "prefs.everything_hint": "Detiene todos los mensajes de {sender} en todos los canales, "
    "sin importar lo que esté marcado arriba.",
    "prefs.save": "Guardar mis preferencias",
    "prefs.saved_title": "Sus preferencias se han guardado",
    "prefs.saved": "Guardado. Sus preferencias se muestran abajo.",
    "prefs.unchanged": "No hacía falta cambiar nada.",
    "prefs.left_topic": "Se ha dado de baja de: {topic}. Sus demás preferencias están abajo.",
    "prefs.no_topics": "Todavía no hay nada que elegir.",
    "invalid.title": "Enlace no válido",
    "invalid.body": "Puede que este enlace para darse de baja esté incompleto. Use el enlace para darse de baja "
    "de un mensaje reciente, o responda a ese mensaje y pida al remitente que pare.",
    "retry.title": "Inténtelo de nuevo",
    "retry.body": "No pudimos leer su elección. Vuelva atrás y envíe el formulario de nuevo.",
    "unavailable.title": "Inténtelo de nuevo en un momento",
    "unavailable.body": "Su solicitud no se pudo registrar en este momento y no se ha perdido nada. "
    "Envíela de nuevo en breve.",
    "footer.privacy": "Política de privacidad",
    "footer.support": "Preguntas: {email}",
}

DEFAULT_LANGUAGE = "en"
LANGUAGES: dict[str, dict[str, str]] = {"en": EN, "fr": FR, "es": ES}

"""The bot's texts in English, French, German, Spanish and Arabic (``bot.i18n_more``): one catalog per language,
the same keys and placeholders in each; counted texts have one key per plural form (``key#one``, ``key#other``;
Arabic also ``#zero``, ``#two``, ``#few``, ``#many``), chosen by ``tn``.

``t(lang, key, **values)`` formats a text for a chat. Catalog texts are Telegram HTML written by hand; every value
put into them is escaped (``bot.render.escape``) unless it is wrapped in ``Html`` (a fragment already built from
escaped parts), so a user's filter or a source's error message can never break a message or inject a link.
A language the bot does not speak falls back to English; a test checks every catalog has the keys and
placeholders of the English one. The command descriptions (``cmd.<name>``) are plain text: Telegram shows
them in its command menu.
"""

from __future__ import annotations

from bot.i18n_more import AR, DE, ES
from bot.render import escape, plural_category

LANGUAGES = ("en", "fr", "de", "es", "ar")
USER_COMMANDS = ("start", "help", "subscribe", "unsubscribe", "settings", "digest", "latest", "story", "search",
                 "trending", "language", "schedule", "mute")  # fmt: skip
ADMIN_COMMANDS = ("sources", "status", "broadcast")
FILTER_EXAMPLE = 'europol "dark web" -football entity:isis lang:fr,en tag:agency min:2'


class Html(str):
    """A fragment of Telegram HTML whose parts were escaped already: ``t`` inserts it as it is."""

    __slots__ = ()


def language_of(code: str | None, default: str = "en") -> str:
    """``"fr-CA"`` -> ``"fr"``; a language the bot does not speak (or none) -> ``default``."""
    base = (code or "").lower().replace("_", "-").split("-")[0]
    return base if base in LANGUAGES else default


def t(lang: str, key: str, **values: object) -> str:
    """The text ``key`` in ``lang`` (English for a language the bot does not speak), its values escaped unless
    ``Html``."""
    template = CATALOGS.get(lang, CATALOGS["en"])[key]
    safe = {k: v if isinstance(v, Html) else escape(str(v)) for k, v in values.items()}
    return template.format(**safe)


def plain(lang: str, key: str, **values: object) -> str:
    """The text ``key`` in ``lang`` with its values as they are: plain text, for a caller that escapes it."""
    return CATALOGS.get(lang, CATALOGS["en"])[key].format(**values)


def tn(lang: str, key: str, n: int, **values: object) -> str:
    """``t`` of ``key#<plural category of n>`` (``key#other`` when the language has no such form), with ``n``."""
    catalog = CATALOGS.get(lang, CATALOGS["en"])
    form = f"{key}#{plural_category(lang, n)}"
    return t(lang if lang in CATALOGS else "en", form if form in catalog else f"{key}#other", n=n, **values)


EN: dict[str, str] = {
    "cmd.start": "Start: register this chat",
    "cmd.help": "The commands and the filter syntax",
    "cmd.subscribe": "Follow stories matching a filter",
    "cmd.unsubscribe": "Remove a subscription (or all)",
    "cmd.settings": "Language, alerts, digest times, mute",
    "cmd.digest": "The digest of the last 24 hours, now",
    "cmd.latest": "The most recent stories",
    "cmd.story": "One story in full, by its id",
    "cmd.search": "Search the stories of the last 7 days",
    "cmd.trending": "Entities trending over the last 24 hours",
    "cmd.language": "Choose the language: en, fr, de, es, ar",
    "cmd.schedule": "Digest times and time zone",
    "cmd.mute": "Pause alerts and digests (8h, 2d, off)",
    "cmd.sources": "Operators: the state of each source",
    "cmd.status": "Operators: health of the service",
    "cmd.broadcast": "Operators: a message to every chat",
    "welcome": "<b>Welcome to veille!</b>\nI follow agencies' and newsrooms' feeds in many languages and send "
    "you digests and alerts about the stories you choose.\n\nStart with a subscription, e.g.\n"
    "<code>/subscribe europol alerts</code>\n\n/help lists every command and the filter syntax.",
    "help.title": "<b>Commands</b>",
    "help.admin": "<b>Operators</b>",
    "help.filters": "<b>Filters</b> (for /subscribe)\n"
    '• words and "quoted phrases" must all appear; <code>-word</code> excludes\n'
    "• <code>entity:</code> an entity by id or name, e.g. entity:Daech\n"
    "• <code>lang:fr,en</code> story languages · <code>tag:agency</code> source tags · "
    "<code>min:2</code> least importance\n"
    "• <code>alerts</code>: an alert for each new story · <code>at:08:00,18:00</code>: digest times "
    "(default 08:00, also with alerts; <code>at:none</code>: alerts only)\nExample:\n"
    "<code>/subscribe {example}</code>",
    "unknown": "Unknown command. See /help.",
    "hint": "I answer commands. Try <code>/subscribe europol alerts</code> to follow a topic, or "
    "<code>/search WORDS</code> to find the stories of the last 7 days. /help lists everything.",
    "button.stale": "This button is out of date: send the command again.",
    "error": "Something went wrong, please try again.",
    "admin_only": "This command is for the operators.",
    "chat_admin_only": "Only this chat's administrators can change its subscriptions and settings.",
    "on": "on",
    "off": "off",
    "none": "none",
    "no": "no",
    "sub.usage": "Write what to follow after /subscribe, for example:\n<code>/subscribe {example}</code>\n"
    "Add <code>alerts</code> for an alert per new story, <code>at:08:00,18:00</code> for the digest times.",
    "sub.saved": "✅ Subscription #{id} saved.\nFilter: <code>{query}</code>\nDigests: {times}\n"
    "Alerts: {alerts}\nChange it with /settings, remove it with /unsubscribe.",
    "sub.everything": "(all stories)",
    "bad.filter": "⚠️ I cannot read this filter: {detail}\nFix: {hint}",
    "bad.entity": "⚠️ I do not know the entity “{name}”.\n"
    "Fix: use a known name or id, e.g. entity:europol or entity:Daech.",
    "bad.time": "⚠️ “{value}” is not a time of day.\nFix: write HH:MM, e.g. at:08:00,18:00.",
    "bad.timezone": "⚠️ Unknown time zone “{value}”.\nFix: an IANA name, e.g. tz:Europe/Paris or tz:UTC.",
    "bad.duration": "⚠️ “{value}” is not a duration.\nFix: /mute 8h, /mute 2d, /mute 30m or /mute off.",
    "bad.number": "⚠️ “{value}” is not a number from 1 to {max}.\nFix: e.g. /latest 10.",
    "bad.times": "⚠️ Too many digest times: at most {max}.\nFix: e.g. at:08:00,18:00.",
    "bad.too_long": "⚠️ This is too long: {n} characters, at most {max}.\nFix: shorten it.",
    "unsub.none": "This chat has no subscriptions. Add one with /subscribe.",
    "unsub.choose": "Which subscription should I remove?",
    "unsub.all_button": "Remove all",
    "unsub.removed": "Subscription #{id} removed.",
    "unsub.removed_all": "Subscriptions removed: {n}.",
    "unsub.not_found": "There is no subscription #{id} in this chat. /unsubscribe lists them.",
    "unsub.usage": "Write /unsubscribe, /unsubscribe ID or /unsubscribe all.",
    "settings.title": "<b>Settings</b>",
    "settings.body": "Language: {language}\nTime zone: {timezone}\n{muted}\n{subscriptions}",
    "settings.muted_until": "🔕 Muted until {until}",
    "settings.not_muted": "🔔 Not muted",
    "settings.no_digest_button": "No digest",
    "settings.subs": "<b>Subscriptions</b>",
    "settings.sub": "#{id} <code>{query}</code>: digests {times} · alerts {alerts}",
    "settings.no_subs": "No subscriptions yet: /subscribe.",
    "settings.alerts_button": "#{id} alerts: {state}",
    "settings.mute_button": "🔕 Mute 8h",
    "settings.unmute_button": "🔔 Unmute",
    "settings.saved": "Saved",
    "language.name": "English",
    "language.choose": "Choose the language of this chat:",
    "language.set": "Language: English.",
    "language.usage": "Write /language followed by en, fr, de, es or ar.",
    "latest.title": "<b>Latest stories</b>",
    "latest.none": "No stories yet.",
    "story.usage": "Write /story followed by a story id (/latest shows them).",
    "story.unknown": "There is no story “{id}”. /latest shows recent ones with their ids.",
    "search.usage": "Write the words to look for after /search, e.g. <code>/search europol ransomware</code>.",
    "search.title": "<b>Stories of the last 7 days matching “{query}”</b>",
    "search.none": "No story of the last 7 days matches “{query}”.",
    "digest.title": "Your {time} digest",
    "digest.title_filter": "Your {time} digest: {filter}",
    "trending.title": "<b>Trending over the last 24 hours</b>",
    "trending.line": "{n}. <b>{name}</b>: {count} mentions ({previous} the day before)",
    "trending.none": "Nothing is trending right now.",
    "schedule.show": "<b>Schedule</b> (time zone {timezone})\n{lines}\nChange it: <code>/schedule 07:30,18:00 "
    "tz:Europe/Paris</code>",
    "schedule.line": "#{id} <code>{query}</code>: {times}",
    "schedule.no_subs": "This chat has no subscriptions yet: /subscribe first.",
    "schedule.saved": "✅ Schedule saved.",
    "mute.on": "🔕 Alerts and digests paused until {until}. /mute off resumes them.",
    "mute.off": "🔔 Alerts and digests resumed.",
    "sources.title": "<b>Sources</b> ({n})",
    "sources.line": "{mark} <code>{id}</code> last ok {success} · errors {errors}{kind}{paused}",
    "sources.never": "never",
    "sources.paused": " · paused",
    "sources.none": "No source has been checked yet.",
    "status.text": "<b>Status</b>\nSources failing: {failing}/{total}{names}\nArticles: {articles}\n"
    "Outbox: {outbox}\nQueue: {pending} pending, next {next_due}\n<b>Last deliveries</b>\n{recent}",
    "status.no_deliveries": "none yet",
    "status.delivery": "{time} · chat {chat} · {kind}",
    "broadcast.usage": "Write the message after /broadcast.",
    "broadcast.queued#one": "📣 Broadcast queued for {n} chat.",
    "broadcast.queued#other": "📣 Broadcast queued for {n} chats.",
}

FR: dict[str, str] = {
    "cmd.start": "Démarrer : enregistrer cette discussion",
    "cmd.help": "Les commandes et la syntaxe des filtres",
    "cmd.subscribe": "Suivre les sujets qui répondent à un filtre",
    "cmd.unsubscribe": "Supprimer un abonnement (ou tous)",
    "cmd.settings": "Langue, alertes, heures des synthèses, pause",
    "cmd.digest": "La synthèse des dernières 24 heures, maintenant",
    "cmd.latest": "Les sujets les plus récents",
    "cmd.story": "Un sujet en entier, par son identifiant",
    "cmd.search": "Chercher dans les sujets des 7 derniers jours",
    "cmd.trending": "Les entités en hausse sur 24 heures",
    "cmd.language": "Choisir la langue : en, fr, de, es, ar",
    "cmd.schedule": "Heures des synthèses et fuseau horaire",
    "cmd.mute": "Suspendre alertes et synthèses (8h, 2d, off)",
    "cmd.sources": "Opérateurs : l'état de chaque source",
    "cmd.status": "Opérateurs : santé du service",
    "cmd.broadcast": "Opérateurs : un message à toutes les discussions",
    "welcome": "<b>Bienvenue sur veille !</b>\nJe suis les flux des agences et des rédactions en de nombreuses "
    "langues et je vous envoie synthèses et alertes sur les sujets que vous choisissez.\n\n"
    "Commencez par un abonnement, par exemple\n<code>/subscribe europol alerts</code>\n\n"
    "/help liste toutes les commandes et la syntaxe des filtres.",
    "help.title": "<b>Commandes</b>",
    "help.admin": "<b>Opérateurs</b>",
    "help.filters": "<b>Filtres</b> (pour /subscribe)\n"
    '• les mots et les "expressions entre guillemets" doivent tous apparaître ; <code>-mot</code> exclut\n'
    "• <code>entity:</code> une entité par identifiant ou par nom, p. ex. entity:Daech\n"
    "• <code>lang:fr,en</code> langues du sujet · <code>tag:agency</code> étiquettes des sources · "
    "<code>min:2</code> importance minimale\n"
    "• <code>alerts</code> : une alerte par nouveau sujet · <code>at:08:00,18:00</code> : heures des "
    "synthèses (08:00 par défaut, aussi avec les alertes ; <code>at:none</code> : alertes seules)\n"
    "Exemple :\n<code>/subscribe {example}</code>",
    "unknown": "Commande inconnue. Voir /help.",
    "hint": "Je réponds aux commandes. Essayez <code>/subscribe europol alerts</code> pour suivre un sujet, "
    "ou <code>/search MOTS</code> pour chercher dans les sujets des 7 derniers jours. /help liste tout.",
    "button.stale": "Ce bouton n'est plus à jour : envoyez de nouveau la commande.",
    "error": "Un problème est survenu, veuillez réessayer.",
    "admin_only": "Cette commande est réservée aux opérateurs.",
    "chat_admin_only": "Seuls les administrateurs de cette discussion peuvent modifier ses abonnements et "
    "ses réglages.",
    "on": "activées",
    "off": "désactivées",
    "none": "aucune",
    "no": "non",
    "sub.usage": "Écrivez ce qu'il faut suivre après /subscribe, par exemple :\n<code>/subscribe {example}</code>\n"
    "Ajoutez <code>alerts</code> pour une alerte par nouveau sujet, <code>at:08:00,18:00</code> pour les "
    "heures des synthèses.",
    "sub.saved": "✅ Abonnement n° {id} enregistré.\nFiltre : <code>{query}</code>\nSynthèses : {times}\n"
    "Alertes : {alerts}\nModifiez-le avec /settings, supprimez-le avec /unsubscribe.",
    "sub.everything": "(tous les sujets)",
    "bad.filter": "⚠️ Ce filtre est illisible : {detail}\nCorrection : {hint}",
    "bad.entity": "⚠️ Je ne connais pas l'entité « {name} ».\n"
    "Correction : un nom ou un identifiant connu, p. ex. entity:europol ou entity:Daech.",
    "bad.time": "⚠️ « {value} » n'est pas une heure.\nCorrection : écrivez HH:MM, p. ex. at:08:00,18:00.",
    "bad.timezone": "⚠️ Fuseau horaire inconnu « {value} ».\nCorrection : un nom IANA, p. ex. "
    "tz:Europe/Paris ou tz:UTC.",
    "bad.duration": "⚠️ « {value} » n'est pas une durée.\nCorrection : /mute 8h, /mute 2d, /mute 30m ou /mute off.",
    "bad.number": "⚠️ « {value} » n'est pas un nombre de 1 à {max}.\nCorrection : p. ex. /latest 10.",
    "bad.times": "⚠️ Trop d'heures de synthèse : {max} au plus.\nCorrection : p. ex. at:08:00,18:00.",
    "bad.too_long": "⚠️ C'est trop long : {n} caractères, {max} au plus.\nCorrection : raccourcissez.",
    "unsub.none": "Cette discussion n'a aucun abonnement. Ajoutez-en un avec /subscribe.",
    "unsub.choose": "Quel abonnement dois-je supprimer ?",
    "unsub.all_button": "Tout supprimer",
    "unsub.removed": "Abonnement n° {id} supprimé.",
    "unsub.removed_all": "Abonnements supprimés : {n}.",
    "unsub.not_found": "Il n'y a pas d'abonnement n° {id} dans cette discussion. /unsubscribe les liste.",
    "unsub.usage": "Écrivez /unsubscribe, /unsubscribe ID ou /unsubscribe all.",
    "settings.title": "<b>Réglages</b>",
    "settings.body": "Langue : {language}\nFuseau horaire : {timezone}\n{muted}\n{subscriptions}",
    "settings.muted_until": "🔕 En pause jusqu'au {until}",
    "settings.not_muted": "🔔 Pas en pause",
    "settings.no_digest_button": "Sans synthèse",
    "settings.subs": "<b>Abonnements</b>",
    "settings.sub": "n° {id} <code>{query}</code> : synthèses {times} · alertes {alerts}",
    "settings.no_subs": "Aucun abonnement pour l'instant : /subscribe.",
    "settings.alerts_button": "n° {id} alertes : {state}",
    "settings.mute_button": "🔕 Pause 8h",
    "settings.unmute_button": "🔔 Reprendre",
    "settings.saved": "Enregistré",
    "language.name": "français",
    "language.choose": "Choisissez la langue de cette discussion :",
    "language.set": "Langue : français.",
    "language.usage": "Écrivez /language suivi de en, fr, de, es ou ar.",
    "latest.title": "<b>Derniers sujets</b>",
    "latest.none": "Aucun sujet pour l'instant.",
    "story.usage": "Écrivez /story suivi de l'identifiant d'un sujet (/latest les affiche).",
    "story.unknown": "Il n'y a pas de sujet « {id} ». /latest affiche les récents avec leur identifiant.",
    "search.usage": "Écrivez les mots à chercher après /search, p. ex. <code>/search europol rançongiciel</code>.",
    "search.title": "<b>Sujets des 7 derniers jours pour « {query} »</b>",
    "search.none": "Aucun sujet des 7 derniers jours ne correspond à « {query} ».",
    "digest.title": "Votre synthèse de {time}",
    "digest.title_filter": "Votre synthèse de {time} : {filter}",
    "trending.title": "<b>En hausse sur les dernières 24 heures</b>",
    "trending.line": "{n}. <b>{name}</b> : {count} mentions ({previous} la veille)",
    "trending.none": "Rien n'est en hausse en ce moment.",
    "schedule.show": "<b>Programme</b> (fuseau {timezone})\n{lines}\nPour le changer : <code>/schedule "
    "07:30,18:00 tz:Europe/Paris</code>",
    "schedule.line": "n° {id} <code>{query}</code> : {times}",
    "schedule.no_subs": "Cette discussion n'a pas encore d'abonnement : /subscribe d'abord.",
    "schedule.saved": "✅ Programme enregistré.",
    "mute.on": "🔕 Alertes et synthèses suspendues jusqu'au {until}. /mute off les reprend.",
    "mute.off": "🔔 Alertes et synthèses reprises.",
    "sources.title": "<b>Sources</b> ({n})",
    "sources.line": "{mark} <code>{id}</code> dernier succès {success} · erreurs {errors}{kind}{paused}",
    "sources.never": "jamais",
    "sources.paused": " · en pause",
    "sources.none": "Aucune source n'a encore été vérifiée.",
    "status.text": "<b>État</b>\nSources en échec : {failing}/{total}{names}\nArticles : {articles}\n"
    "File d'envoi : {outbox}\nEn attente : {pending}, prochain {next_due}\n<b>Derniers envois</b>\n{recent}",
    "status.no_deliveries": "aucun pour l'instant",
    "status.delivery": "{time} · discussion {chat} · {kind}",
    "broadcast.usage": "Écrivez le message après /broadcast.",
    "broadcast.queued#one": "📣 Message programmé pour {n} discussion.",
    "broadcast.queued#other": "📣 Message programmé pour {n} discussions.",
}

CATALOGS: dict[str, dict[str, str]] = {"en": EN, "fr": FR, "de": DE, "es": ES, "ar": AR}

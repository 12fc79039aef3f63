"""Distinct, realistic customer mails for the speed benchmark (``bench/classify_speed.py``).

A server never sees the same mail twice, and repeating one corpus lets every cache answer
(spaCy's string store, regex caches, the lemma tables), so each benchmark round gets messages
of its own. They are recombined from text other people wrote: paragraphs of the labelled
corpora (by the language their labels give), request sentences of the Parakweet e-mail intent
set, banking77 customer questions and helpdesk mails of the zammad corpus (used as quoted
history). Languages those lack (it, nl, pt, pl, sv, da, cs, and more fr/es) come from the short
templates below. Numbers, names, companies and subjects are varied; the generator knows
nothing of the classifier's rules.

Each message is wrapped the way mail clients send it: text/plain in 8bit, quoted-printable
or base64, multipart/alternative with an HTML part, or multipart/mixed with a PDF attachment;
most are replies that quote earlier history, so the typical size is 4-7 KB.
"""

from __future__ import annotations

import csv
import email.message
import email.policy
import email.utils
import html
import json
import logging
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import _project_path  # noqa: F401  (must come before gateway)

from gateway.processing.parsing import parse_message

LANGUAGES: tuple[str, ...] = ("en", "de", "fr", "es", "it", "nl", "pt", "pl", "sv", "da", "cs")
# Share of each language: mostly English and German as on a European manufacturer's aliases,
# but every supported language often enough that its pipeline is built and measured.
WEIGHTS: tuple[int, ...] = (40, 14, 7, 7, 5, 5, 5, 5, 4, 4, 4)

# Own sentences for the languages the corpora lack; {n} a number, {d} a date, {q} a quantity.
TEMPLATES: dict[str, tuple[str, ...]] = {
    "fr": (
        "Pourriez-vous nous envoyer une offre pour {q} pièces selon le plan ci-joint ?",
        "Nous avons bien reçu votre confirmation de commande {n}, merci.",
        "La livraison prévue le {d} n'est pas encore arrivée chez nous.",
        "Merci de nous indiquer le délai de livraison le plus court possible.",
        "Veuillez trouver ci-joint notre bon de commande numéro {n}.",
        "Nous souhaitons modifier la quantité à {q} unités si c'est encore possible.",
    ),
    "es": (
        "Les agradeceríamos una oferta para {q} unidades según el plano adjunto.",
        "Hemos recibido la confirmación del pedido {n}, muchas gracias.",
        "El envío previsto para el {d} todavía no ha llegado a nuestro almacén.",
        "¿Podrían indicarnos el plazo de entrega más corto posible?",
        "Adjuntamos nuestro pedido número {n} firmado.",
        "Queremos cambiar la cantidad a {q} unidades si todavía es posible.",
    ),
    "it": (
        "Vi chiediamo gentilmente un'offerta per {q} pezzi secondo il disegno allegato.",
        "Abbiamo ricevuto la vostra conferma d'ordine {n}, grazie mille.",
        "La consegna prevista per il {d} non è ancora arrivata nel nostro magazzino.",
        "Potreste indicarci i tempi di consegna più brevi possibili?",
        "In allegato trovate il nostro ordine numero {n} firmato dal responsabile.",
        "Vorremmo modificare la quantità a {q} pezzi, se è ancora possibile.",
        "Il pezzo che ci avete spedito presenta un graffio sulla superficie.",
        "Restiamo in attesa di un vostro gentile riscontro.",
    ),
    "nl": (
        "Graag ontvangen wij een offerte voor {q} stuks volgens de bijgevoegde tekening.",
        "Wij hebben uw orderbevestiging {n} in goede orde ontvangen, dank u wel.",
        "De levering die voor {d} gepland was, is nog niet bij ons aangekomen.",
        "Kunt u ons de kortst mogelijke levertijd laten weten?",
        "In de bijlage vindt u onze bestelling met nummer {n}.",
        "Wij willen het aantal graag wijzigen naar {q} stuks als dat nog kan.",
        "Het geleverde onderdeel heeft een kras aan de buitenkant.",
        "Wij horen graag zo snel mogelijk van u.",
    ),
    "pt": (
        "Gostaríamos de receber uma proposta para {q} peças conforme o desenho em anexo.",
        "Recebemos a vossa confirmação de encomenda {n}, muito obrigado.",
        "A entrega prevista para {d} ainda não chegou ao nosso armazém.",
        "Poderiam informar-nos o prazo de entrega mais curto possível?",
        "Segue em anexo a nossa encomenda número {n} assinada.",
        "Queremos alterar a quantidade para {q} unidades, se ainda for possível.",
        "A peça que nos enviaram chegou com um risco na superfície.",
        "Ficamos a aguardar a vossa resposta com a maior brevidade.",
    ),
    "pl": (
        "Prosimy o przesłanie oferty na {q} sztuk zgodnie z załączonym rysunkiem.",
        "Otrzymaliśmy potwierdzenie zamówienia {n}, bardzo dziękujemy.",
        "Dostawa planowana na {d} jeszcze do nas nie dotarła.",
        "Czy mogą Państwo podać najkrótszy możliwy termin dostawy?",
        "W załączniku przesyłamy nasze zamówienie numer {n}.",
        "Chcielibyśmy zmienić ilość na {q} sztuk, jeśli to jeszcze możliwe.",
        "Dostarczona część ma rysę na powierzchni obudowy.",
        "Czekamy na szybką odpowiedź i pozdrawiamy serdecznie.",
    ),
    "sv": (
        "Vi ber om en offert på {q} stycken enligt bifogad ritning.",
        "Vi har tagit emot er orderbekräftelse {n}, tack så mycket.",
        "Leveransen som var planerad till {d} har ännu inte kommit fram till oss.",
        "Kan ni meddela oss kortast möjliga leveranstid?",
        "Bifogat finner ni vår beställning med nummer {n}.",
        "Vi skulle vilja ändra antalet till {q} stycken om det fortfarande går.",
        "Den levererade delen har en repa på ytan.",
        "Vi ser fram emot ert svar så snart som möjligt.",
    ),
    "da": (
        "Vi vil gerne bede om et tilbud på {q} stk. i henhold til vedlagte tegning.",
        "Vi har modtaget jeres ordrebekræftelse {n}, mange tak.",
        "Leveringen, der var planlagt til {d}, er endnu ikke kommet frem til os.",
        "Kan I oplyse os om den kortest mulige leveringstid?",
        "Vedhæftet finder I vores bestilling med nummer {n}.",
        "Vi vil gerne ændre antallet til {q} stk., hvis det stadig er muligt.",
        "Den leverede del har en ridse på overfladen.",
        "Vi ser frem til at høre fra jer hurtigst muligt.",
    ),
    "cs": (
        "Prosíme o zaslání nabídky na {q} kusů podle přiloženého výkresu.",
        "Obdrželi jsme vaše potvrzení objednávky {n}, děkujeme.",
        "Dodávka plánovaná na {d} k nám dosud nedorazila.",
        "Můžete nám sdělit nejkratší možnou dodací lhůtu?",
        "V příloze zasíláme naši objednávku číslo {n}.",
        "Chtěli bychom změnit množství na {q} kusů, pokud je to ještě možné.",
        "Dodaný díl má na povrchu škrábanec.",
        "Těšíme se na vaši brzkou odpověď.",
    ),
}
GREETINGS: dict[str, tuple[str, ...]] = {
    "en": ("Hello {name},", "Hi {name},", "Dear {name},", "Good morning,"),
    "de": ("Hallo {name},", "Sehr geehrte Damen und Herren,", "Guten Tag {name},"),
    "fr": ("Bonjour {name},", "Madame, Monsieur,"),
    "es": ("Hola {name},", "Estimados señores:"),
    "it": ("Buongiorno {name},", "Gentili signori,"),
    "nl": ("Beste {name},", "Geachte heer, mevrouw,"),
    "pt": ("Bom dia {name},", "Caros senhores,"),
    "pl": ("Dzień dobry,", "Szanowni Państwo,"),
    "sv": ("Hej {name},", "Hej,"),
    "da": ("Hej {name},", "Kære {name},"),
    "cs": ("Dobrý den,", "Vážení,"),
}
CLOSINGS: dict[str, tuple[str, ...]] = {
    "en": ("Best regards,", "Kind regards,", "Thanks,", "Cheers,"),
    "de": ("Mit freundlichen Grüßen", "Viele Grüße", "Beste Grüße"),
    "fr": ("Cordialement,", "Bien à vous,"),
    "es": ("Saludos cordiales,", "Atentamente,"),
    "it": ("Cordiali saluti,", "Distinti saluti,"),
    "nl": ("Met vriendelijke groet,", "Groeten,"),
    "pt": ("Com os melhores cumprimentos,", "Atenciosamente,"),
    "pl": ("Z poważaniem,", "Pozdrawiam,"),
    "sv": ("Med vänliga hälsningar,", "Hälsningar,"),
    "da": ("Med venlig hilsen,", "Venlig hilsen,"),
    "cs": ("S pozdravem,", "S přátelským pozdravem,"),
}
SUBJECT_PREFIX: dict[str, tuple[str, ...]] = {
    "en": ("Re: ", "RE: ", "Fwd: ", ""), "de": ("AW: ", "WG: ", "Re: ", ""),
    "fr": ("RE : ", "TR : ", ""), "es": ("RE: ", "RV: ", ""), "it": ("R: ", "I: ", ""),
    "nl": ("RE: ", "Antw: ", ""), "pt": ("RE: ", "Enc: ", ""), "pl": ("Odp: ", "RE: ", ""),
    "sv": ("SV: ", "VB: ", ""), "da": ("SV: ", "VS: ", ""), "cs": ("Re: ", "Odp: ", ""),
}
FIRST = ("Anna", "Jan", "Maria", "Piotr", "Sofie", "Lars", "Elena", "Marco", "Chloé", "Tomás",
         "Jana", "Ahmed", "Grace", "Oliver", "Ingrid", "Luca", "Eva", "Pablo", "Katrin", "Nils")
LAST = ("Novak", "Schmidt", "Rossi", "Dubois", "García", "Jensen", "Kowalski", "de Vries",
        "Silva", "Lindqvist", "Müller", "Brown", "Svoboda", "Ferreira", "Moreau", "Nowak")
COMPANY = ("Hydrotek", "Baltic Machining", "Alpina Tools", "Veloform", "Nordpress",
           "Iberica Fluid", "Kraftwerk Parts", "Lumen Optics", "Praha Stroj", "Danfab")
SUFFIX = ("GmbH", "Ltd", "S.A.", "S.r.l.", "B.V.", "Lda", "Sp. z o.o.", "AB", "ApS", "s.r.o.")
FOOTER = (
    "This e-mail and any attachments are confidential and intended solely for the addressee. "
    "If you have received it in error, please notify the sender and delete it.",
    "Diese E-Mail enthält vertrauliche Informationen. Wenn Sie nicht der richtige Adressat "
    "sind, informieren Sie bitte sofort den Absender und vernichten Sie diese E-Mail.",
    "Please consider the environment before printing this e-mail.",
)
_DIGIT = re.compile(r"\d")
_PARAGRAPH = re.compile(r"\n[ \t]*\n")
_HEADERISH = re.compile(r"^\s*(?:>|[\w-]+:\s|--|__)", re.M)


@dataclass(frozen=True)
class Sources:
    """Text pools: new-text paragraphs per language, and history paragraphs of any language."""

    paragraphs: dict[str, list[str]]
    history: list[str]


def _paragraphs(text: str) -> list[str]:
    """Prose paragraphs of a body: no quoted lines, header blocks or very short scraps."""
    out = []
    for para in _PARAGRAPH.split(text.replace("\r\n", "\n")):
        para = para.strip()
        if 40 <= len(para) <= 900 and not _HEADERISH.search(para):
            out.append(para)
    return out


def _labelled(folder: Path, pools: dict[str, list[str]]) -> None:
    for line in (folder / "labels.jsonl").read_text(encoding="utf-8").splitlines():
        entry = json.loads(line)
        lang = entry.get("language", "en")
        if lang in pools:
            body = parse_message((folder / "mail" / entry["file"]).read_bytes()).text
            pools[lang].extend(_paragraphs(body))


def load_sources(corpora: Path) -> Sources:
    """Read the pools once from the shared corpora folder."""
    pools: dict[str, list[str]] = {lang: [] for lang in LANGUAGES}
    for name in ("labelled-dev", "labelled-norland"):
        _labelled(corpora / name, pools)
    intent = corpora / "parakweet-email-intent" / "Ask0729-fixed.txt"
    sentences = [ln.split("\t", 1)[1].strip() for ln in intent.read_text(
        encoding="utf-8", errors="replace").splitlines() if "\t" in ln]
    with (corpora / "banking77" / "train.csv").open(encoding="utf-8") as fh:
        sentences += [row["text"] for row in csv.DictReader(fh)]
    sentences = [s for s in sentences if 20 <= len(s) <= 300 and "$LINK" not in s]
    # English prose paragraphs of three to five of these sentences, recombined per message.
    pools["en"].extend(" ".join(sentences[i : i + 4]) for i in range(0, len(sentences), 4))
    history: list[str] = []
    # Some zammad mails have no text part, and mail-parser (the parser's second opinion)
    # logs each content type it skips; that is not news for a benchmark.
    logging.getLogger("mailparser").setLevel(logging.ERROR)
    for box in sorted((corpora / "zammad" / "mail").glob("*.box")):
        history.extend(_paragraphs(parse_message(box.read_bytes()).text))
    for lang in pools:
        history.extend(pools[lang])
    return Sources(pools, history)


class Generator:
    """Messages from a seed: the same seed gives the same messages, another seed others."""

    def __init__(self, sources: Sources, seed: int) -> None:
        self.src = sources
        self.rnd = random.Random(seed)
        self.serial = 0

    def _digits(self, text: str) -> str:
        return _DIGIT.sub(lambda _: str(self.rnd.randint(0, 9)), text)

    def _fill(self, template: str) -> str:
        r = self.rnd
        return template.format(
            n=f"{r.choice(('', 'PO ', 'BE-', '45'))}{r.randint(10_000, 9_999_999)}",
            d=f"{r.randint(1, 28)}.{r.randint(1, 12)}.{r.choice((2025, 2026))}",
            q=r.choice((5, 12, 40, 250, 1_000, 3)),
        )

    def _name(self) -> str:
        return f"{self.rnd.choice(FIRST)} {self.rnd.choice(LAST)}"

    def _paragraph(self, lang: str) -> str:
        """A paragraph from the corpora when there is one for ``lang``, else from templates."""
        own = self.src.paragraphs.get(lang) or []
        if own and (lang not in TEMPLATES or self.rnd.random() < 0.4):
            return self._digits(self.rnd.choice(own))
        picks = self.rnd.sample(TEMPLATES[lang], k=min(3, len(TEMPLATES[lang])))
        return " ".join(self._fill(t) for t in picks)

    def _subject(self, lang: str, text: str) -> str:
        words = text.split()
        start = self.rnd.randint(0, max(0, min(8, len(words) - 4)))
        core = " ".join(words[start : start + self.rnd.randint(3, 8)]).strip(".,;:")
        return self.rnd.choice(SUBJECT_PREFIX[lang]) + core[:1].upper() + core[1:]

    def _history(self, sender: str, target: int) -> list[str]:
        """Quoted earlier messages, Gmail style ("On ... wrote:" and "> " lines) or Outlook
        style (a From/Sent header block), until the body reaches ``target`` characters."""
        out: list[str] = []
        size = 0
        while size < target:
            who = self._name()
            date = email.utils.formatdate(self.rnd.randint(1_700_000_000, 1_790_000_000))
            paras = [self._digits(self.rnd.choice(self.src.history)) for _ in range(3)]
            if self.rnd.random() < 0.5:
                block = [f"On {date}, {who} <{sender}> wrote:"]
                block += ["> " + ln for p in paras for ln in ([*p.splitlines(), ""])]
            else:
                block = ["-----Original Message-----", f"From: {who} <{sender}>",
                         f"Sent: {date}", "Subject: previous message", ""]
                block += [ln for p in paras for ln in ([*p.splitlines(), ""])]
            out.extend(block)
            size += sum(len(x) + 1 for x in block)
        return out

    def body(self, lang: str) -> tuple[str, str, str]:
        """(subject, plain text, sender address) of one message in ``lang``."""
        r = self.rnd
        name, company = self._name(), f"{r.choice(COMPANY)} {r.choice(SUFFIX)}"
        paras = [self._paragraph(lang) for _ in range(r.randint(1, 4))]
        self.serial += 1
        sender = f"{name.split()[0].lower()}.{self.serial}@{company.split()[0].lower()}.example"
        lines = [r.choice(GREETINGS[lang]).format(name=self._name().split()[0]), ""]
        for p in paras:
            lines += [p, ""]
        lines += [r.choice(CLOSINGS[lang]), name, company,
                  f"Tel. +{r.randint(30, 49)} {r.randint(100, 999)} {r.randint(100_000, 999_999)}"]
        if r.random() < 0.4:
            lines += ["", r.choice(FOOTER)]
        target = r.choice((0, 1_200, 1_800, 2_400, 3_000))  # a fifth are new threads
        if target:
            lines += ["", *self._history(sender, target)]
        return self._subject(lang, paras[0]), "\n".join(lines) + "\n", sender

    def message(self, lang: str) -> tuple[bytes, str]:
        """One raw message in ``lang``, in one of five MIME shapes, and its plain text."""
        subject, text, sender = self.body(lang)
        r = self.rnd
        msg = email.message.EmailMessage(policy=email.policy.SMTP)
        msg["From"] = sender
        msg["To"] = r.choice(("sales@", "support@", "returns@", "info@")) + "maker.example"
        msg["Subject"] = subject
        msg["Date"] = email.utils.formatdate(r.randint(1_700_000_000, 1_790_000_000))
        msg["Message-ID"] = f"<{r.getrandbits(64):x}.{self.serial}@{sender.split('@')[1]}>"
        if subject[:4].lower() in ("re: ", "aw: ", "sv: ", "r: ", "rv: ", "odp:", "antw"):
            msg["In-Reply-To"] = f"<{r.getrandbits(64):x}@maker.example>"
        msg["X-Mailer"] = r.choice(("Microsoft Outlook 16.0", "Thunderbird 115.3", "iPhone Mail"))
        shape = r.randrange(5)
        cte = ("8bit", "quoted-printable", "base64", "quoted-printable", "base64")[shape]
        msg.set_content(text, cte=cte)
        if shape >= 3:
            markup = "".join(f"<p>{html.escape(p)}</p>" for p in text.split("\n\n"))
            msg.add_alternative(f"<html><body>{markup}</body></html>", subtype="html",
                                cte="quoted-printable")
        if shape == 4 or (shape == 2 and r.random() < 0.5):
            pdf = b"%PDF-1.4\n" + r.randbytes(r.randint(300, 1_200)) + b"\n%%EOF\n"
            msg.add_attachment(pdf, maintype="application", subtype="pdf",
                               filename=f"document_{r.randint(1_000, 99_999)}.pdf")
        for part in msg.walk():  # boundaries from this generator's seed, not the global one
            if part.is_multipart():
                part.set_boundary(f"=_{r.getrandbits(64):016x}")
        return msg.as_bytes(), text

    def messages(self, count: int) -> Iterator[tuple[str, bytes]]:
        """``count`` (language, raw message) pairs with distinct bodies."""
        seen: set[str] = set()
        made = 0
        while made < count:
            lang = self.rnd.choices(LANGUAGES, WEIGHTS)[0]
            raw, text = self.message(lang)
            if text in seen:
                continue
            seen.add(text)
            made += 1
            yield lang, raw

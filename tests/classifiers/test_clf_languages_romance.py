"""Whole mails in Italian, Portuguese, French and Spanish through ``classifiers.classify``.

There is no labelled corpus for it and pt, so these mails (written for this test, one per
category plus scope changes and negatives: a conditional hand-over, a question that changes
nothing, a plain acknowledgement) are what shows that those rule folders decide real mail:
detected language, category and scope flag, and that the language's own rules decided it.
"""

from __future__ import annotations

import pytest

from classifiers import MessageInput, classify
from classifiers.prepare import new_text
from gateway.processing.threader import is_reply_subject, normalise_subject
from tests.support.language_mail import (
    RULES,
    Mail,
    assert_classified_in_its_language,
    assert_own_rule_folders,
)

ROMANCE = ("fr", "es", "it", "pt")





MAILS: tuple[Mail, ...] = (
    # --- Italian ---------------------------------------------------------------------------
    Mail("it-enquiry", "it", "Richiesta di offerta flange inox",
         "Buongiorno,\n\nvi chiediamo cortesemente un'offerta per 200 flange DN80 in acciaio "
         "inox, con i relativi tempi di consegna. Avete anche il certificato materiale 3.1?\n\n"
         "Cordiali saluti,\nMarco Bianchi", "enquiry", False),
    Mail("it-order", "it", "Ordine 4500123 valvole a sfera",
         "Buongiorno,\n\nin allegato il nostro ordine n. 4500123 per 40 valvole a sfera come da "
         "vostra offerta del 3 marzo. Vi preghiamo di inviarci la conferma d'ordine.\n\n"
         "Distinti saluti,\nUfficio acquisti", "order", False),
    Mail("it-acceptance", "it", "Re: preventivo riparazione pompa",
         "Buongiorno,\n\naccettiamo il vostro preventivo di riparazione della pompa; potete "
         "procedere con il lavoro.\n\nGrazie e saluti,\nLuca Ferri", "order", False),
    Mail("it-complaint", "it", "Consegna di ieri",
         "Buongiorno,\n\nsiamo molto insoddisfatti: dei 50 pezzi consegnati ieri, 12 sono "
         "arrivati danneggiati e l'imballo era del tutto inadeguato. È la seconda volta questo "
         "mese.\n\nSaluti,\nGiulia Conti", "feedback", False),
    Mail("it-praise", "it", "Intervento di ieri",
         "Buongiorno,\n\ndesideriamo ringraziarvi per l'ottimo lavoro del vostro tecnico: la "
         "linea è ripartita in giornata.\n\nCordiali saluti,\nPaolo Greco", "feedback", False),
    Mail("it-property", "it", "Invio stampi",
         "Buongiorno,\n\ncome concordato al telefono vi spediamo oggi tramite corriere due "
         "stampi da riparare. Gli stampi restano di nostra proprietà: maneggiare con cura.\n\n"
         "Saluti,\nAndrea Villa", "property", False),
    Mail("it-change", "it", "Ordine 4500123 variazione",
         "Buongiorno,\n\nin riferimento al nostro ordine 4500123 vi preghiamo di aumentare la "
         "quantità della riga 2 a 60 pezzi e di posticipare la consegna alla settimana 20.\n\n"
         "Grazie,\nUfficio acquisti", "order", True),
    Mail("it-cancel", "it", "Annullamento ordine 4500777",
         "Buongiorno,\n\ncon la presente annulliamo il nostro ordine 4500777 per le guarnizioni. "
         "Vi preghiamo di confermarci l'annullamento.\n\nDistinti saluti,\nSara Neri",
         "order", True),
    Mail("it-auto-reply", "it", "Risposta automatica: ordine 4500123",
         "Sono fuori ufficio fino al 20 agosto con accesso limitato alla posta elettronica. "
         "Per urgenze contattare il reparto acquisti.", "other", False),
    Mail("it-conditional-property", "it", "Domanda sulla revisione",
         "Buongiorno,\n\nse vi inviamo i nostri stampi per una revisione, quali sarebbero i "
         "tempi? Per ora non abbiamo ancora spedito nulla.\n\nSaluti,\nAndrea Villa",
         "enquiry", False),
    # --- Portuguese ------------------------------------------------------------------------
    Mail("pt-enquiry", "pt", "Pedido de orçamento flanges inox",
         "Bom dia,\n\nsolicitamos um orçamento para 200 flanges DN80 em aço inox, com o "
         "respetivo prazo de entrega. Podem também enviar o certificado de material?\n\n"
         "Com os melhores cumprimentos,\nJoão Silva", "enquiry", False),
    Mail("pt-order", "pt", "Encomenda 4500123 válvulas",
         "Bom dia,\n\nsegue em anexo a nossa encomenda n.º 4500123 de 40 válvulas de esfera, "
         "conforme a vossa proposta de 3 de março. Agradecemos a confirmação da encomenda.\n\n"
         "Cumprimentos,\nDepartamento de compras", "order", False),
    Mail("pt-acceptance", "pt", "Re: orçamento de reparação da bomba",
         "Bom dia,\n\naceitamos o vosso orçamento de reparação da bomba; podem avançar com o "
         "trabalho.\n\nObrigado,\nRui Costa", "order", False),
    Mail("pt-complaint", "pt", "Entrega de ontem",
         "Bom dia,\n\nestamos muito insatisfeitos: das 50 peças entregues ontem, 12 chegaram "
         "danificadas e a embalagem era inadequada. Já é a segunda vez este mês.\n\n"
         "Cumprimentos,\nAna Pereira", "feedback", False),
    Mail("pt-praise", "pt", "Intervenção de ontem",
         "Bom dia,\n\nqueremos agradecer-lhes o excelente trabalho do vosso técnico: a linha "
         "voltou a produzir no mesmo dia.\n\nCumprimentos,\nPedro Santos", "feedback", False),
    Mail("pt-property", "pt", "Envio de moldes",
         "Bom dia,\n\nconforme combinado, enviamos hoje por transportadora dois moldes para "
         "reparação. Os moldes são propriedade da nossa empresa; manusear com cuidado.\n\n"
         "Cumprimentos,\nMiguel Sousa", "property", False),
    Mail("pt-change", "pt", "Encomenda 4500123 alteração",
         "Bom dia,\n\nrelativamente à nossa encomenda 4500123, por favor aumentem a quantidade "
         "da linha 2 para 60 peças e adiem a entrega para a semana 20.\n\nObrigado,\n"
         "Departamento de compras", "order", True),
    Mail("pt-cancel", "pt", "Cancelamento da encomenda 4500777",
         "Bom dia,\n\npela presente cancelamos a nossa encomenda 4500777 das juntas. "
         "Agradecemos que nos confirmem o cancelamento.\n\nCumprimentos,\nSofia Martins",
         "order", True),
    Mail("pt-auto-reply", "pt", "Resposta automática: encomenda 4500123",
         "Estou fora do escritório até 20 de agosto, com acesso limitado ao e-mail. "
         "Para assuntos urgentes contacte o departamento de compras.", "other", False),
    Mail("pt-conditional-property", "pt", "Dúvida sobre revisão",
         "Bom dia,\n\nse lhes enviarmos os nossos moldes para revisão, qual seria o prazo? "
         "Por enquanto ainda não enviámos nada.\n\nCumprimentos,\nMiguel Sousa",
         "enquiry", False),
    # --- French ----------------------------------------------------------------------------
    Mail("fr-date-question", "fr", "Commande 4500321",
         "Bonjour,\n\nserait-il possible d'avancer la livraison de notre commande 4500321 à la "
         "semaine 14 ? Notre client final a avancé son planning.\n\nCordialement,\n"
         "Claire Martin", "order", True),
    Mail("fr-conditional-property", "fr", "Question sur l'étalonnage",
         "Bonjour,\n\nsi nous vous envoyons nos calibres pour étalonnage, quel serait le délai ? "
         "Nous n'avons encore rien expédié.\n\nCordialement,\nLuc Bernard", "enquiry", False),
    Mail("fr-acknowledgement", "fr", "Re: documents",
         "Bien reçu, merci pour l'information.\n\nCordialement,\nLuc Bernard", "other", False),
    Mail("fr-hold", "fr", "Commande 4500456",
         "Bonjour,\n\nmerci de suspendre la livraison de notre commande 4500456 jusqu'à nouvel "
         "ordre, notre chantier est arrêté.\n\nCordialement,\nClaire Martin", "order", True),
    # --- Spanish ---------------------------------------------------------------------------
    Mail("es-quantity-terse", "es", "Pedido 4500654",
         "Hola,\n\npor favor añadan 20 unidades más a la línea 3 de nuestro pedido 4500654.\n\n"
         "Gracias,\nJavier López", "order", True),
    Mail("es-conditional-property", "es", "Consulta sobre reparación",
         "Buenos días,\n\nsi les enviamos nuestros moldes para reparación, ¿cuál sería el plazo? "
         "Todavía no hemos enviado nada.\n\nUn saludo,\nMarta Ruiz", "enquiry", False),
    Mail("es-property", "es", "Envío de plantillas",
         "Buenos días,\n\nles enviamos hoy por mensajería las tres plantillas de control para "
         "calibración. Son propiedad de nuestra empresa.\n\nUn saludo,\nMarta Ruiz",
         "property", False),
    Mail("es-status-question", "es", "Pedido 4500654",
         "Buenos días,\n\n¿cuándo recibiremos nuestro pedido 4500654? Necesitamos saber la fecha "
         "de envío para organizar el montaje.\n\nUn saludo,\nJavier López", "enquiry", False),
)


@pytest.mark.parametrize("mail", MAILS, ids=lambda m: m.name)
def test_mail_is_classified_in_its_language(mail: Mail) -> None:
    assert_classified_in_its_language(mail)


def test_every_romance_language_has_its_own_rule_folder() -> None:
    assert_own_rule_folders(ROMANCE)


@pytest.mark.parametrize(
    "body",
    [
        "Annullate la riga 3.\n\nIl giorno 5 nov 2024 alle 10:02, Vendite <s@x.example> ha "
        "scritto:\n> vecchio",
        "Annullate la riga 3.\n\nEm 5 de nov. de 2024, às 10:02, Vendas <s@x.example> "
        "escreveu:\n> antigo",
        "Annullate la riga 3.\n\n-----Messaggio originale-----\nDa: Vendite\nvecchio",
        "Annullate la riga 3.\n\n-----Mensagem original-----\nDe: Vendas\nantigo",
        "Annullate la riga 3.\n\nDa: Vendite <s@x.example>\nInviato: lunedì\nA: me\nvecchio",
        "Annullate la riga 3.\n\nDe: Vendas <s@x.example>\nEnviada: segunda-feira\nPara: mim\n"
        "antigo",
        "Annullate la riga 3.\n\nCordiali saluti,\nMario Rossi\nUfficio acquisti",
        "Annullate la riga 3.\n\nCom os melhores cumprimentos,\nJoão Silva\nCompras",
        "Annullate la riga 3.\n\nQuesto messaggio e i suoi allegati sono riservati e "
        "destinati al solo destinatario.",
        "Annullate la riga 3.\n\nEsta mensagem pode conter informação confidencial.",
    ],
)
def test_italian_and_portuguese_quotes_signatures_and_footers_are_cut(body: str) -> None:
    text = new_text(body)
    # The closing formula itself stays (as "Best regards," does); what follows it goes.
    assert text.split("\n\n")[0] == "Annullate la riga 3."
    cut = ("vecchio", "antigo", "Rossi", "Silva", "riservati", "confidencial")
    assert not any(word in text for word in cut), text


def test_italian_and_portuguese_forwards_keep_the_forwarded_text() -> None:
    outlook = (
        "vedi sotto\n\nDa: Elena <e@x.example>\nInviato: giovedì\n\nServe una pompa da 45 m3/h."
    )
    assert "45 m3/h" in new_text(outlook, "I: dimensionamento pompa")
    assert "45 m3/h" not in new_text(outlook, "R: dimensionamento pompa")
    marker = "olá\n---------- Mensagem encaminhada ---------\nDe: a\nData: b\n\nTexto da pergunta"
    assert "Texto da pergunta" in new_text(marker, "bomba")


@pytest.mark.parametrize(
    "subject", ["R: Ordine 4711", "I: Ordine 4711", "RES: Ordine 4711", "ENC: Ordine 4711",
                "RV: Ordine 4711", "TR: Ordine 4711", "Réf: Ordine 4711"],
)
def test_romance_reply_and_forward_prefixes(subject: str) -> None:
    assert is_reply_subject(subject)
    assert normalise_subject(subject) == normalise_subject("Ordine 4711")


def test_portuguese_no_is_a_contraction_not_the_english_negator() -> None:
    assert "no" not in RULES.negators_for("pt") and "não" in RULES.negators_for("pt")
    assert "no" in RULES.negators_for("es")  # Spanish "no" is a negator
    result = classify(MessageInput(
        subject="Encomenda 4500654",
        body_text="Bom dia, entreguem as peças no nosso armazém de Braga em vez de Porto.",
    ), RULES)
    assert (result.category, result.scope_change) == ("order", True), result.evidence

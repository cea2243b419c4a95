#!/usr/bin/env python3
"""Writes the screens' gettext catalogues (<lang>/LC_MESSAGES/aufruf-ui.po) from the
tables below. English is the source language of the .slint files; German is complete;
Ukrainian, Arabic and Turkish cover the kiosk's texts (the desk and the display speak
German). Run it after changing a text: `python3 ui/lang/catalogues.py`."""

import os

HERE = os.path.dirname(os.path.abspath(__file__))

PLURALS = {
    "de": "nplurals=2; plural=(n != 1);",
    "uk": "nplurals=3; plural=(n%10==1 && n%100!=11 ? 0 : n%10>=2 && n%10<=4 && (n%100<10 || n%100>=20) ? 1 : 2);",
    "ar": "nplurals=6; plural=(n==0 ? 0 : n==1 ? 1 : n==2 ? 2 : n%100>=3 && n%100<=10 ? 3 : n%100>=11 ? 4 : 5);",
    "tr": "nplurals=2; plural=(n != 1);",
}

# msgid -> {lang: text}; plural entries: (singular, plural) -> {lang: [forms]}
KIOSK = {
    "Aufruf — kiosk": {"de": "Aufruf — Kiosk", "uk": "Aufruf — кіоск", "ar": "Aufruf — كشك التذاكر", "tr": "Aufruf — kiosk"},
    "What is your concern? Touch it to get a ticket.": {
        "de": "Was ist Ihr Anliegen? Tippen Sie es an, um eine Nummer zu ziehen.",
        "uk": "Яка ваша справа? Торкніться її, щоб отримати талон.",
        "ar": "ما هي معاملتك؟ المسها للحصول على رقم.",
        "tr": "İşleminiz nedir? Numara almak için dokunun.",
    },
    "I have an appointment": {"de": "Ich habe einen Termin", "uk": "У мене є запис", "ar": "لدي موعد", "tr": "Randevum var"},
    "Larger text, high contrast": {"de": "Größere Schrift, hoher Kontrast", "uk": "Більший шрифт, контраст", "ar": "خط أكبر، تباين عالٍ", "tr": "Büyük yazı, yüksek kontrast"},
    "Closed now – {0}": {"de": "Jetzt geschlossen – {0}", "uk": "Зараз зачинено – {0}", "ar": "مغلق الآن – {0}", "tr": "Şu anda kapalı – {0}"},
    "How would you like your ticket?": {"de": "Wie möchten Sie Ihre Nummer erhalten?", "uk": "Як ви хочете отримати талон?", "ar": "كيف تريد الحصول على رقمك؟", "tr": "Numaranızı nasıl almak istersiniz?"},
    "Print a ticket": {"de": "Zettel drucken", "uk": "Надрукувати талон", "ar": "طباعة الرقم", "tr": "Fiş yazdır"},
    "QR code for my phone": {"de": "QR-Code fürs Handy", "uk": "QR-код для телефона", "ar": "رمز QR لهاتفي", "tr": "Telefonum için QR kod"},
    "Back": {"de": "Zurück", "uk": "Назад", "ar": "رجوع", "tr": "Geri"},
    "Please type your booking code or hold its QR code to the scanner.": {
        "de": "Bitte tippen Sie Ihren Buchungscode ein oder halten Sie den QR-Code an den Scanner.",
        "uk": "Введіть код бронювання або піднесіть його QR-код до сканера.",
        "ar": "يرجى كتابة رمز الحجز أو تقريب رمز QR من الماسح.",
        "tr": "Lütfen rezervasyon kodunuzu yazın veya QR kodunu tarayıcıya tutun.",
    },
    "Booking code": {"de": "Buchungscode", "uk": "Код бронювання", "ar": "رمز الحجز", "tr": "Rezervasyon kodu"},
    "Delete": {"de": "Löschen", "uk": "Стерти", "ar": "حذف", "tr": "Sil"},
    "Check in": {"de": "Anmelden", "uk": "Зареєструватися", "ar": "تسجيل الحضور", "tr": "Giriş yap"},
    "You are checked in. Your number:": {"de": "Sie sind angemeldet. Ihre Nummer:", "uk": "Вас зареєстровано. Ваш номер:", "ar": "تم تسجيل حضورك. رقمك:", "tr": "Girişiniz yapıldı. Numaranız:"},
    "Your number:": {"de": "Ihre Nummer:", "uk": "Ваш номер:", "ar": "رقمك:", "tr": "Numaranız:"},
    "Your number: {0}": {"de": "Ihre Nummer: {0}", "uk": "Ваш номер: {0}", "ar": "رقمك: {0}", "tr": "Numaranız: {0}"},
    "about {0} minutes": {"de": "etwa {0} Minuten", "uk": "приблизно {0} хв", "ar": "حوالي {0} دقيقة", "tr": "yaklaşık {0} dakika"},
    # How many are ahead, and the minutes: joined by the language's comma.
    "{0}, {1}": {"de": "{0}, {1}", "uk": "{0}, {1}", "ar": "{0}، {1}", "tr": "{0}, {1}"},
    "Please take your ticket from the printer below.": {
        "de": "Bitte nehmen Sie Ihren Zettel unten aus dem Drucker.",
        "uk": "Будь ласка, візьміть талон із принтера внизу.",
        "ar": "يرجى أخذ رقمك من الطابعة في الأسفل.",
        "tr": "Lütfen fişinizi aşağıdaki yazıcıdan alın.",
    },
    "The ticket could not be printed. Please note your number or scan the code.": {
        "de": "Der Zettel konnte nicht gedruckt werden. Bitte merken Sie sich Ihre Nummer oder scannen Sie den Code.",
        "uk": "Талон не вдалося надрукувати. Запам'ятайте номер або скануйте код.",
        "ar": "تعذرت طباعة الرقم. يرجى تذكر رقمك أو مسح الرمز.",
        "tr": "Fiş yazdırılamadı. Lütfen numaranızı not edin veya kodu tarayın.",
    },
    "Please wait in the foyer until your number is shown on the display.": {
        "de": "Bitte warten Sie im Foyer, bis Ihre Nummer auf der Anzeige erscheint.",
        "uk": "Зачекайте у фойє, доки ваш номер з'явиться на табло.",
        "ar": "يرجى الانتظار في البهو حتى يظهر رقمك على الشاشة.",
        "tr": "Lütfen numaranız ekranda görünene kadar fuayede bekleyin.",
    },
    "Done": {"de": "Fertig", "uk": "Готово", "ar": "تم", "tr": "Tamam"},
    "QR code of your ticket": {"de": "QR-Code Ihrer Nummer", "uk": "QR-код вашого талона", "ar": "رمز QR لرقمك", "tr": "Numaranızın QR kodu"},
    "Scan it to follow your ticket on your phone.": {
        "de": "Scannen Sie ihn, um Ihre Nummer auf dem Handy zu verfolgen.",
        "uk": "Скануйте, щоб стежити за чергою на телефоні.",
        "ar": "امسحه لمتابعة دورك على هاتفك.",
        "tr": "Sıranızı telefonunuzdan takip etmek için tarayın.",
    },
    "The ticket printer is out of service: you get your ticket as a QR code on the screen.": {
        "de": "Der Drucker ist außer Betrieb: Sie erhalten Ihre Nummer als QR-Code auf dem Bildschirm.",
        "uk": "Принтер не працює: ви отримаєте талон як QR-код на екрані.",
        "ar": "الطابعة معطلة: ستحصل على رقمك كرمز QR على الشاشة.",
        "tr": "Yazıcı çalışmıyor: numaranızı ekranda QR kod olarak alırsınız.",
    },
    "No tickets for this concern now. {0}": {"de": "Für dieses Anliegen gibt es jetzt keine Nummern. {0}", "uk": "Зараз талонів для цієї справи немає. {0}", "ar": "لا توجد أرقام لهذه المعاملة الآن. {0}", "tr": "Bu işlem için şu anda numara verilmiyor. {0}"},
    "You are early: check-in for your appointment opens at {0}.": {
        "de": "Sie sind früh dran: Die Anmeldung zu Ihrem Termin ist ab {0} Uhr möglich.",
        "uk": "Ви рано: реєстрація на ваш запис можлива з {0}.",
        "ar": "لقد حضرت مبكرًا: يبدأ تسجيل الحضور لموعدك في {0}.",
        "tr": "Erken geldiniz: randevunuz için giriş {0} itibarıyla açılır.",
    },
    "We cannot find this booking code. Please check it or ask at the information desk.": {
        "de": "Diesen Buchungscode finden wir nicht. Bitte prüfen Sie ihn oder fragen Sie an der Information.",
        "uk": "Цей код не знайдено. Перевірте його або зверніться до довідкової.",
        "ar": "لم نجد رمز الحجز هذا. يرجى التحقق منه أو السؤال في مكتب الاستعلامات.",
        "tr": "Bu rezervasyon kodunu bulamadık. Lütfen kontrol edin veya danışmaya sorun.",
    },
    "This kiosk's clock is wrong. Please ask at the information desk.": {
        "de": "Die Uhr dieses Automaten geht falsch. Bitte fragen Sie an der Information.",
        "uk": "Годинник цього кіоска показує неправильний час. Зверніться до довідкової.",
        "ar": "ساعة هذا الجهاز غير صحيحة. يرجى السؤال في مكتب الاستعلامات.",
        "tr": "Bu cihazın saati yanlış. Lütfen danışmaya sorun.",
    },
    "This kiosk is getting ready. Please wait a moment.": {
        "de": "Dieser Automat wird vorbereitet. Bitte warten Sie einen Moment.",
        "uk": "Кіоск готується до роботи. Зачекайте хвилинку.",
        "ar": "هذا الجهاز قيد التجهيز. يرجى الانتظار قليلاً.",
        "tr": "Bu cihaz hazırlanıyor. Lütfen biraz bekleyin.",
    },
    "Sorry, that did not work. Please ask at the information desk. ({0})": {
        "de": "Das hat leider nicht geklappt. Bitte fragen Sie an der Information. ({0})",
        "uk": "На жаль, не вдалося. Зверніться до довідкової. ({0})",
        "ar": "عذرًا، لم ينجح ذلك. يرجى السؤال في مكتب الاستعلامات. ({0})",
        "tr": "Üzgünüz, olmadı. Lütfen danışmaya sorun. ({0})",
    },
    "Please wait: this kiosk is catching up with the office and issues no tickets yet.": {
        "de": "Bitte warten: Dieser Automat gleicht sich mit dem Büro ab und gibt noch keine Nummern aus.",
        "uk": "Зачекайте: кіоск синхронізується з офісом і ще не видає талонів.",
        "ar": "يرجى الانتظار: هذا الجهاز يتزامن مع المكتب ولا يصدر أرقامًا بعد.",
        "tr": "Lütfen bekleyin: bu cihaz ofisle eşitleniyor ve henüz numara vermiyor.",
    },
    "Please wait: this kiosk's clock is wrong, so it issues no tickets. Please ask at the information desk.": {
        "de": "Bitte warten: Die Uhr dieses Automaten geht falsch, er gibt keine Nummern aus. Bitte fragen Sie an der Information.",
        "uk": "Зачекайте: годинник кіоска неправильний, тому він не видає талонів. Зверніться до довідкової.",
        "ar": "يرجى الانتظار: ساعة هذا الجهاز غير صحيحة، لذلك لا يصدر أرقامًا. يرجى السؤال في مكتب الاستعلامات.",
        "tr": "Lütfen bekleyin: bu cihazın saati yanlış, numara vermiyor. Lütfen danışmaya sorun.",
    },
    "No more tickets today — please book an appointment online": {
        "de": "Heute keine Wartemarken mehr – bitte buchen Sie online einen Termin",
        "uk": "Сьогодні талонів більше немає — будь ласка, запишіться онлайн",
        "ar": "لا مزيد من الأرقام اليوم — يرجى حجز موعد عبر الإنترنت",
        "tr": "Bugün başka sıra numarası yok — lütfen çevrimiçi randevu alın",
    },
}

KIOSK_PLURALS = {
    ("{n} person waiting", "{n} people waiting"): {
        "de": ["{n} Person wartet", "{n} Personen warten"],
        "uk": ["{n} людина чекає", "{n} людини чекають", "{n} людей чекають"],
        "ar": ["لا أحد ينتظر", "شخص واحد ينتظر", "شخصان ينتظران", "{n} أشخاص ينتظرون", "{n} شخصًا ينتظرون", "{n} شخص ينتظرون"],
        "tr": ["{n} kişi bekliyor", "{n} kişi bekliyor"],
    },
    ("{n} visitor ahead of you", "{n} visitors ahead of you"): {
        "de": ["{n} Person vor Ihnen", "{n} Personen vor Ihnen"],
        "uk": ["{n} людина перед вами", "{n} людини перед вами", "{n} людей перед вами"],
        "ar": ["لا أحد قبلك", "شخص واحد قبلك", "شخصان قبلك", "{n} أشخاص قبلك", "{n} شخصًا قبلك", "{n} شخص قبلك"],
        "tr": ["önünüzde {n} kişi", "önünüzde {n} kişi"],
    },
}

# The display and the desk: German only (the office's working language).
STAFF = {
    "Aufruf — display": "Aufruf — Anzeige",
    "Aufruf — desk": "Aufruf — Arbeitsplatz",
    "Welcome": "Herzlich willkommen",
    "Called: {0} to {1}": "Aufgerufen: {0} zu {1}",
    "please go to {0}": "bitte zu {0}",
    "Recent calls": "Letzte Aufrufe",
    "Waiting: {0}": "Wartende: {0}",
    "Time: {0}": "Uhrzeit: {0}",
    "No connection to the office's other devices: the calls shown may be out of date.":
        "Keine Verbindung zu den anderen Geräten des Büros: Die angezeigten Aufrufe sind womöglich nicht aktuell.",
    "walk-in since {0}": "ohne Termin, seit {0}",
    "appointment at {0}": "Termin um {0}",
    "closed": "geschlossen",
    "paused": "Pause",
    "open: {0}": "geöffnet: {0}",
    "{0} was called by {1} first. Please call the next visitor.":
        "{0} wurde zuerst von {1} aufgerufen. Bitte rufen Sie die nächste Person auf.",
    "OK": "OK",
    "No connection to any other device of the office: calls do not reach the display.":
        "Keine Verbindung zu anderen Geräten des Büros: Aufrufe erreichen die Anzeige nicht.",
    "The foyer display cannot be reached: visitors may not see their call.":
        "Die Anzeige im Foyer ist nicht erreichbar: Wartende sehen ihren Aufruf womöglich nicht.",
    "This terminal is catching up with the office and calls nobody yet.":
        "Dieser Arbeitsplatz gleicht sich mit dem Büro ab und ruft noch niemanden auf.",
    "This terminal's clock is wrong: it calls nobody until the clock is set right.":
        "Die Uhr dieses Arbeitsplatzes geht falsch: Er ruft niemanden auf, bis sie richtig gestellt ist.",
    "No visitor at the desk.": "Niemand am Platz.",
    "Current visitor: {0}": "Aktuell: {0}",
    "called ({0}×), not yet here": "aufgerufen ({0}×), noch nicht da",
    "at the desk": "am Platz",
    "Services at this desk today:": "Heute an diesem Platz:",
    "Open desk": "Platz öffnen",
    "Call next": "Aufrufen",
    "Recall": "Erneut aufrufen",
    "No-show": "Nicht erschienen",
    "Arrived": "Ist da",
    "Finished": "Erledigt",
    "Park": "Parken",
    "Transfer": "Weiterleiten",
    "Resume": "Weiter",
    "Pause": "Pause",
    "Close desk": "Platz schließen",
    "Transfer {0} to:": "{0} weiterleiten an:",
    "Cancel": "Abbrechen",
    "Waiting for this desk: {0}": "Wartend für diesen Platz: {0}",
    "Next": "Als Nächstes",
    "Call": "Aufrufen",
    "Parked": "Geparkt",
    "Return": "Zurück in die Warteschlange",
}


def quote(text):
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def write(lang):
    lines = [
        'msgid ""',
        'msgstr ""',
        quote("Content-Type: text/plain; charset=UTF-8\\n")[:-1] + '"',
        quote(f"Language: {lang}\\n")[:-1] + '"',
        quote(f"Plural-Forms: {PLURALS[lang]}\\n")[:-1] + '"',
        "",
    ]
    # \n inside the header must stay an escape sequence, not be doubled.
    lines = [l.replace("\\\\n", "\\n") for l in lines]
    for msgid, texts in KIOSK.items():
        if lang in texts:
            lines += [f"msgid {quote(msgid)}", f"msgstr {quote(texts[lang])}", ""]
    for (one, many), texts in KIOSK_PLURALS.items():
        if lang in texts:
            lines += [f"msgid {quote(one)}", f"msgid_plural {quote(many)}"]
            lines += [f"msgstr[{i}] {quote(t)}" for i, t in enumerate(texts[lang])]
            lines.append("")
    if lang == "de":
        for msgid, text in STAFF.items():
            lines += [f"msgid {quote(msgid)}", f"msgstr {quote(text)}", ""]
    folder = os.path.join(HERE, lang, "LC_MESSAGES")
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "aufruf-ui.po"), "w", encoding="utf-8") as f:
        f.write("\n".join(lines))


for lang in PLURALS:
    write(lang)

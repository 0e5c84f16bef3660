"""Writes the golden corpus (NAME.eml) and expected.json. Run from this
directory: python3 generate.py. The fixtures are committed; this script is
how they were made (exact bytes in each charset)."""
import base64, quopri, json
def enc_word(text, cs, mode='B'):
    b=text.encode(cs)
    if mode=='B': return f"=?{cs}?B?{base64.b64encode(b).decode()}?="
    q=quopri.encodestring(b, header=True).decode()
    return f"=?{cs}?Q?{q}?="
H="From: {frm}\r\nTo: {to}\r\nSubject: {subj}\r\nDate: Tue, 1 Dec 2026 10:00:00 +0300\r\n{extra}MIME-Version: 1.0\r\n"
files={}; expect={}
def add(name, raw, exp):
    files[name]=raw if isinstance(raw,bytes) else raw.encode()
    expect[name]=exp
help_="help@example.test"
body="Здравствуйте! Мой заказ 1042 не пришёл. Ёжик в тумане."
add("koi8r_8bit", H.format(frm="=?koi8-r?B?"+base64.b64encode("Анна Петрова".encode('koi8-r')).decode()+"?= <anna@customer.test>", to=help_, subj=enc_word("Заказ не пришёл","koi8-r"), extra="Message-ID: <koi8@customer.test>\r\n").encode()+b"Content-Type: text/plain; charset=koi8-r\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"+body.encode('koi8-r')+b"\r\n",
    {"subject":"Заказ не пришёл","text":body,"contact_name":"Анна Петрова","channel_message_id":"koi8@customer.test"})
add("cp1251_base64", H.format(frm="anna@customer.test", to=help_, subj=enc_word("Счёт на оплату","windows-1251","Q"), extra="Message-ID: <cp1251@customer.test>\r\n").encode()+b"Content-Type: text/plain; charset=windows-1251\r\nContent-Transfer-Encoding: base64\r\n\r\n"+base64.encodebytes(body.encode('cp1251')).replace(b"\n",b"\r\n"),
    {"subject":"Счёт на оплату","text":body})
s1=enc_word("Длинная тема, ","utf-8"); s2=enc_word("разбитая на две части","utf-8")
add("utf8_qp_folded_subject", H.format(frm="anna@customer.test", to=help_, subj=s1+"\r\n "+s2, extra="Message-ID: <qp@customer.test>\r\n").encode()+b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"+quopri.encodestring(body.encode()).replace(b"\n",b"\r\n")+b"\r\n",
    {"subject":"Длинная тема, разбитая на две части","text":body})
add("mixed_charset_subject", H.format(frm="anna@customer.test", to=help_, subj=enc_word("Привет ","koi8-r")+" "+enc_word("мир","windows-1251","Q")+" and more", extra="Message-ID: <mixed@customer.test>\r\n").encode()+b"Content-Type: text/plain; charset=us-ascii\r\n\r\nplain ascii\r\n",
    {"subject":"Привет мир and more","text":"plain ascii"})
add("cp866_body", H.format(frm="anna@customer.test", to=help_, subj="cp866", extra="Message-ID: <cp866@customer.test>\r\n").encode()+b"Content-Type: text/plain; charset=cp866\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"+body.encode('cp866')+b"\r\n",
    {"text":body})
add("iso8859_5_body", H.format(frm="anna@customer.test", to=help_, subj="iso", extra="Message-ID: <iso5@customer.test>\r\n").encode()+b"Content-Type: text/plain; charset=iso-8859-5\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"+body.encode('iso-8859-5')+b"\r\n",
    {"text":body})
html="<html><body><p>Здравствуйте!</p><p>Где <b>мой</b> заказ?</p></body></html>"
add("html_only", H.format(frm="anna@customer.test", to=help_, subj="html", extra="Message-ID: <html@customer.test>\r\n").encode()+b"Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"+html.encode()+b"\r\n",
    {"text_contains":["Здравствуйте!","Где мой заказ?"],"has_html":True})
add("multipart_alternative", H.format(frm="anna@customer.test", to=help_, subj="alt", extra="Message-ID: <alt@customer.test>\r\n")+"Content-Type: multipart/alternative; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nТекст письма\r\n--b1\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>HTML версия</p>\r\n--b1--\r\n",
    {"text":"Текст письма","has_html":True})
pdf=base64.encodebytes(b"%PDF-1.4 fake").decode().replace("\n","\r\n")
add("attachment_rfc2231", H.format(frm="anna@customer.test", to=help_, subj="договор", extra="Message-ID: <att@customer.test>\r\n")+"Content-Type: multipart/mixed; boundary=\"m1\"\r\n\r\n--m1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nДоговор во вложении\r\n--m1\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment;\r\n filename*=UTF-8''%D0%B4%D0%BE%D0%B3%D0%BE%D0%B2%D0%BE%D1%80.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n"+pdf+"--m1--\r\n",
    {"text":"Договор во вложении","attachments":["договор.pdf"]})
add("outlook_reply_ru", H.format(frm="anna@customer.test", to=help_, subj="RE: Заказ", extra="Message-ID: <ol@customer.test>\r\nIn-Reply-To: <ack-1@example.test>\r\nReferences: <koi8@customer.test> <ack-1@example.test>\r\n")+"Content-Type: text/plain; charset=utf-8\r\n\r\nСпасибо, получила.\r\n\r\nОт: Поддержка <help@example.test>\r\nОтправлено: 1 декабря 2026 г. 10:05\r\nКому: Анна\r\nТема: Заказ\r\n\r\nВаше обращение зарегистрировано.\r\n",
    {"text":"Спасибо, получила.","thread_id":"koi8@customer.test","in_reply_to":"ack-1@example.test"})
add("gmail_reply_en", H.format(frm="Bob <bob@customer.test>", to=help_, subj="Re: [#1234] Order", extra="Message-ID: <gm@customer.test>\r\nIn-Reply-To: <ack-2@example.test>\r\nReferences: <orig-2@customer.test> <ack-2@example.test>\r\n")+"Content-Type: text/plain; charset=utf-8\r\n\r\nThanks, that works.\r\n\r\nOn Tue, Dec 1, 2026 at 10:05 AM Support <help@example.test>\r\nwrote:\r\n> Your request was received.\r\n",
    {"text":"Thanks, that works.","thread_id":"orig-2@customer.test","ticket_token":"1234"})
add("no_message_id", H.format(frm="anna@customer.test", to=help_, subj="no id", extra="")+"Content-Type: text/plain; charset=utf-8\r\n\r\nno id here\r\n",
    {"text":"no id here","id_is_hash":True})
add("auto_reply_ooo", H.format(frm="anna@customer.test", to=help_, subj="Out of office", extra="Message-ID: <ooo@customer.test>\r\nAuto-Submitted: auto-replied\r\n")+"Content-Type: text/plain; charset=utf-8\r\n\r\nI am away until Monday.\r\n",
    {"auto_submitted":True,"auto_reason":"auto_submitted"})
add("bounce_dsn", "From: Mail Delivery System <MAILER-DAEMON@mx.customer.test>\r\nTo: help@example.test\r\nSubject: Undelivered Mail Returned to Sender\r\nMessage-ID: <dsn@mx.customer.test>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"r1\"\r\n\r\n--r1\r\nContent-Type: text/plain\r\n\r\nThe mail could not be delivered.\r\n--r1\r\nContent-Type: message/delivery-status\r\n\r\nFinal-Recipient: rfc822; nobody@customer.test\r\nAction: failed\r\nStatus: 5.1.1\r\n--r1--\r\n",
    {"auto_submitted":True,"auto_reason":"delivery_report"})
add("null_return_path", "Return-Path: <>\r\n"+H.format(frm="notify@customer.test", to=help_, subj="notice", extra="Message-ID: <nrp@customer.test>\r\n")+"Content-Type: text/plain\r\n\r\nautomatic notice\r\n",
    {"auto_submitted":True,"auto_reason":"null_return_path"})
add("mailing_list", H.format(frm="news@shop.test", to=help_, subj="Sale!", extra="Message-ID: <list@shop.test>\r\nList-Id: <news.shop.test>\r\nPrecedence: list\r\n")+"Content-Type: text/plain\r\n\r\nBuy now\r\n",
    {"auto_submitted":True,"auto_reason":"precedence"})
add("foreign_recipient", H.format(frm="anna@customer.test", to="ivan.personal@example.test", subj="Иван, привет", extra="Message-ID: <foreign@customer.test>\r\n")+"Content-Type: text/plain; charset=utf-8\r\n\r\nИван, глянь заказ\r\n",
    {"foreign":True})
big=base64.encodebytes(b"x"*5000).decode().replace("\n","\r\n"); small=base64.encodebytes(b"y"*10).decode().replace("\n","\r\n")
parts="".join(f"--m2\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"{n}\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{d}" for n,d in [("big.bin",big),("a.txt",small),("b.txt",small),("c.txt",small)])
add("attachments_over_limits", H.format(frm="anna@customer.test", to=help_, subj="files", extra="Message-ID: <files@customer.test>\r\n")+"Content-Type: multipart/mixed; boundary=\"m2\"\r\n\r\n--m2\r\nContent-Type: text/plain\r\n\r\nfiles attached\r\n"+parts+"--m2--\r\n",
    {"attachments":["a.txt","b.txt"],"omitted":2,"text":"files attached","omitted_attachments":[["big.bin","too_large"],["c.txt","too_many"]]})
add("broken_headers", "From: anna@customer.test\r\nTo: help@example.test\r\nSubject: =?utf-8?B?broken!!?= ok\r\nMessage-ID: <broken@customer.test>\r\nContent-Type: text/plain; charset=x-unknown-charset\r\n\r\nstill readable\r\n",
    {"text":"still readable"})
add("own_address_loop", H.format(frm="Support <help@example.test>", to=help_, subj="loop", extra="Message-ID: <loop@example.test>\r\n")+"Content-Type: text/plain\r\n\r\nfrom ourselves\r\n",
    {"auto_submitted":True,"auto_reason":"own_address"})
add("apple_reply_ru", H.format(frm="anna@customer.test", to=help_, subj="Re: Заказ", extra="Message-ID: <apple@customer.test>\r\nIn-Reply-To: <ack-3@example.test>\r\n")+"Content-Type: text/plain; charset=utf-8\r\n\r\nДа, всё верно.\r\n\r\n> 1 дек. 2026 г., в 10:05, Поддержка <help@example.test> написал(а):\r\n>\r\n> Ваше обращение зарегистрировано.\r\n",
    {"text":"Да, всё верно.","thread_id":"ack-3@example.test"})

# ---- second batch ----
add("utf8_8bit_plain", H.format(frm="anna@customer.test", to=help_, subj="utf8", extra="Message-ID: <u8@customer.test>\r\n").encode()+b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"+body.encode()+b"\r\n",
    {"text":body})
add("iso8859_5_subject", H.format(frm="anna@customer.test", to=help_, subj=enc_word("Вопрос по счёту","iso-8859-5"), extra="Message-ID: <iso5s@customer.test>\r\n")+"Content-Type: text/plain\r\n\r\nx\r\n",
    {"subject":"Вопрос по счёту"})
add("koi8r_q_subject_underscores", H.format(frm="anna@customer.test", to=help_, subj=enc_word("Не работает вход","koi8-r","Q").replace("=20","_"), extra="Message-ID: <koiq@customer.test>\r\n")+"Content-Type: text/plain\r\n\r\nx\r\n",
    {"subject":"Не работает вход"})
add("from_name_cp1251_q", H.format(frm=enc_word("Иван Сидоров","windows-1251","Q")+" <ivan@customer.test>", to=help_, subj="name", extra="Message-ID: <nameq@customer.test>\r\n")+"Content-Type: text/plain\r\n\r\nx\r\n",
    {"contact_name":"Иван Сидоров"})
add("malformed_encoded_word", H.format(frm="anna@customer.test", to=help_, subj="=?utf-8?B?0J/RgNC40LLQtdGC", extra="Message-ID: <badword@customer.test>\r\n")+"Content-Type: text/plain\r\n\r\nbody survives\r\n",
    {"text":"body survives"})
add("thunderbird_reply_en", H.format(frm="carl@customer.test", to=help_, subj="Re: help", extra="Message-ID: <tb@customer.test>\r\nIn-Reply-To: <ack-4@example.test>\r\nReferences: <orig-4@customer.test> <ack-4@example.test>\r\n")+"Content-Type: text/plain; charset=utf-8; format=flowed\r\n\r\nStill broken, sorry.\r\n\r\nOn 01.12.2026 10:05, Support wrote:\r\n> We are looking into it.\r\n",
    {"text":"Still broken, sorry.","thread_id":"orig-4@customer.test"})
add("outlook_reply_en", H.format(frm="dana@customer.test", to=help_, subj="RE: help", extra="Message-ID: <olen@customer.test>\r\nIn-Reply-To: <ack-5@example.test>\r\n")+"Content-Type: text/plain; charset=utf-8\r\n\r\nThanks a lot.\r\n\r\n-----Original Message-----\r\nFrom: Support <help@example.test>\r\nSent: Tuesday, December 1, 2026 10:05 AM\r\nSubject: help\r\n\r\nWe are on it.\r\n",
    {"text":"Thanks a lot.","thread_id":"ack-5@example.test"})
add("gmail_reply_ru", H.format(frm="anna@customer.test", to=help_, subj="Re: Заказ", extra="Message-ID: <gmru@customer.test>\r\nIn-Reply-To: <ack-6@example.test>\r\nReferences: <orig-6@customer.test> <ack-6@example.test>\r\n")+"Content-Type: text/plain; charset=utf-8\r\n\r\nПонятно, жду.\r\n\r\nвт, 1 дек. 2026 г. в 10:05, Поддержка <help@example.test>:\r\n\r\n> Ваше обращение зарегистрировано.\r\n",
    {"text":"Понятно, жду.","thread_id":"orig-6@customer.test"})
add("signature_only", H.format(frm="anna@customer.test", to=help_, subj="sig", extra="Message-ID: <sig@customer.test>\r\n")+"Content-Type: text/plain; charset=utf-8\r\n\r\nПроблема с оплатой.\r\n-- \r\nАнна, ООО Ромашка\r\n+7 900 000-00-00\r\n",
    {"text":"Проблема с оплатой."})
png=base64.encodebytes(b"\x89PNG\r\n\x1a\nfakeimage").decode().replace("\n","\r\n")
add("inline_image_related", H.format(frm="anna@customer.test", to=help_, subj="screenshot", extra="Message-ID: <img@customer.test>\r\n")+"Content-Type: multipart/related; boundary=\"r2\"\r\n\r\n--r2\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>Вот скриншот: <img src=\"cid:shot1\"></p>\r\n--r2\r\nContent-Type: image/png\r\nContent-ID: <shot1>\r\nContent-Disposition: inline; filename=\"shot.png\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"+png+"--r2--\r\n",
    {"text_contains":["Вот скриншот"],"attachments":["shot.png"],"has_html":True})
add("forwarded_message_rfc822", H.format(frm="anna@customer.test", to=help_, subj="Fwd: счёт", extra="Message-ID: <fwd@customer.test>\r\n")+"Content-Type: multipart/mixed; boundary=\"f1\"\r\n\r\n--f1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nПересылаю счёт.\r\n--f1\r\nContent-Type: message/rfc822\r\nContent-Disposition: attachment; filename=\"invoice.eml\"\r\n\r\nFrom: shop@shop.test\r\nSubject: Invoice\r\n\r\nPay 10\r\n--f1--\r\n",
    {"text":"Пересылаю счёт.","attachments":["invoice.eml"]})
tnef=base64.encodebytes(b"\x78\x9f\x3e\x22tnefdata").decode().replace("\n","\r\n")
add("winmail_dat_kept", H.format(frm="olga@customer.test", to=help_, subj="tnef", extra="Message-ID: <tnef@customer.test>\r\n")+"Content-Type: multipart/mixed; boundary=\"t1\"\r\n\r\n--t1\r\nContent-Type: text/plain\r\n\r\nsee attachment\r\n--t1\r\nContent-Type: application/ms-tnef; name=\"winmail.dat\"\r\nContent-Disposition: attachment; filename=\"winmail.dat\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"+tnef+"--t1--\r\n",
    {"text":"see attachment","attachments":["winmail.dat"]})
add("x_autoreply", H.format(frm="anna@customer.test", to=help_, subj="Автоответ", extra="Message-ID: <xar@customer.test>\r\nX-Autoreply: yes\r\n")+"Content-Type: text/plain; charset=utf-8\r\n\r\nЯ в отпуске.\r\n",
    {"auto_submitted":True,"auto_reason":"auto_reply_header"})
add("exchange_oof", H.format(frm="boss@customer.test", to=help_, subj="Automatic reply: help", extra="Message-ID: <oof@customer.test>\r\nX-Auto-Response-Suppress: All\r\n")+"Content-Type: text/plain\r\n\r\nOut of office.\r\n",
    {"auto_submitted":True,"auto_reason":"auto_reply_header"})
add("precedence_bulk", H.format(frm="promo@shop.test", to=help_, subj="Promo", extra="Message-ID: <bulk@shop.test>\r\nPrecedence: bulk\r\n")+"Content-Type: text/plain\r\n\r\nPromo\r\n",
    {"auto_submitted":True,"auto_reason":"precedence"})
add("postmaster_bounce", "From: postmaster@mx.customer.test\r\nTo: help@example.test\r\nSubject: Delivery failure\r\nMessage-ID: <pm@mx.customer.test>\r\nContent-Type: text/plain\r\n\r\nUser unknown\r\n",
    {"auto_submitted":True,"auto_reason":"mailer_daemon"})
add("cc_to_support", H.format(frm="anna@customer.test", to="ivan.personal@example.test", subj="cc", extra="Cc: Support <help@example.test>\r\nMessage-ID: <cc@customer.test>\r\n")+"Content-Type: text/plain\r\n\r\nwith cc\r\n",
    {"foreign":False,"text":"with cc"})
add("to_alias_address", H.format(frm="anna@customer.test", to="support@example.test", subj="alias", extra="Message-ID: <alias@customer.test>\r\n")+"Content-Type: text/plain\r\n\r\nto the alias\r\n",
    {"foreign":False,"text":"to the alias"})
add("references_only", H.format(frm="anna@customer.test", to=help_, subj="Re: x", extra="Message-ID: <refonly@customer.test>\r\nReferences: <root-7@customer.test>\r\n <mid-7@customer.test>\r\n")+"Content-Type: text/plain\r\n\r\nfolded references\r\n",
    {"thread_id":"root-7@customer.test"})
add("attachment_rfc2047_name", H.format(frm="anna@customer.test", to=help_, subj="att", extra="Message-ID: <att2047@customer.test>\r\n")+"Content-Type: multipart/mixed; boundary=\"a2\"\r\n\r\n--a2\r\nContent-Type: text/plain\r\n\r\nfile\r\n--a2\r\nContent-Type: application/pdf; name=\""+enc_word("счёт.pdf","utf-8")+"\"\r\nContent-Disposition: attachment\r\nContent-Transfer-Encoding: base64\r\n\r\n"+pdf+"--a2--\r\n",
    {"attachments":["счёт.pdf"]})
add("attachment_rfc2231_continuation", H.format(frm="anna@customer.test", to=help_, subj="att", extra="Message-ID: <att2231c@customer.test>\r\n")+"Content-Type: multipart/mixed; boundary=\"a3\"\r\n\r\n--a3\r\nContent-Type: text/plain\r\n\r\nfile\r\n--a3\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment;\r\n filename*0*=UTF-8''%D0%B4%D0%BB%D0%B8%D0%BD%D0%BD%D0%BE%D0%B5;\r\n filename*1*=%20%D0%B8%D0%BC%D1%8F.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n"+pdf+"--a3--\r\n",
    {"attachments":["длинное имя.pdf"]})
longtext=("Очень длинное письмо. "*600).strip()
add("long_text_capped", H.format(frm="anna@customer.test", to=help_, subj="long", extra="Message-ID: <long@customer.test>\r\n")+"Content-Type: text/plain; charset=utf-8\r\n\r\n"+longtext+"\r\n",
    {"text_chars":10000,"dropped":["text"]})
add("no_date_header", "From: anna@customer.test\r\nTo: help@example.test\r\nSubject: no date\r\nMessage-ID: <nodate@customer.test>\r\n\r\nwithout a date\r\n",
    {"text":"without a date","no_sent_at":True})
add("html_only_cp1251_base64", H.format(frm="anna@customer.test", to=help_, subj="html1251", extra="Message-ID: <h1251@customer.test>\r\n").encode()+b"Content-Type: text/html; charset=windows-1251\r\nContent-Transfer-Encoding: base64\r\n\r\n"+base64.encodebytes("<div>Добрый день!<br>Не приходит письмо.</div>".encode('cp1251')).replace(b"\n",b"\r\n"),
    {"text_contains":["Добрый день!","Не приходит письмо."],"has_html":True})
long_ru="Здравствуйте! Мой заказ не пришёл, подскажите, пожалуйста, что случилось и когда ждать доставку."
add("undeclared_cp1251", b"From: anna@customer.test\r\nTo: help@example.test\r\nSubject: "+"Где заказ".encode('cp1251')+b"\r\nMessage-ID: <und1251@customer.test>\r\n\r\n"+long_ru.encode('cp1251')+b"\r\n",
    {"subject":"Где заказ","text":long_ru})
add("undeclared_koi8r", b"From: anna@customer.test\r\nTo: help@example.test\r\nSubject: plain\r\nMessage-ID: <undkoi@customer.test>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"+long_ru.encode('koi8-r')+b"\r\n",
    {"text":long_ru})
for n,r in files.items(): open(n+".eml","wb").write(r)
json.dump(expect, open("expected.json","w"), ensure_ascii=False, indent=1)
print(len(files))

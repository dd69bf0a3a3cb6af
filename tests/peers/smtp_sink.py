#!/usr/bin/python3
# A real SMTP server on loopback that keeps every message it is given.
#   smtp_sink.py DIR
# Listens on 127.0.0.1, an ephemeral port written to DIR/port; each message
# is saved as DIR/mail.N.eml with its envelope in DIR/mail.N.env.  Stops
# after 300 s at most.
import os, socket, sys, time
from aiosmtpd.controller import Controller

DIR = sys.argv[1]


class Keep:
    async def handle_DATA(self, server, session, envelope):
        n = len([f for f in os.listdir(DIR) if f.endswith(".eml")]) + 1
        with open(os.path.join(DIR, "mail.%d.eml" % n), "wb") as f:
            f.write(envelope.original_content)
        with open(os.path.join(DIR, "mail.%d.env" % n), "w") as f:
            f.write("%s\n%s\n" % (envelope.mail_from, " ".join(envelope.rcpt_tos)))
        return "250 kept"


s = socket.socket()
s.bind(("127.0.0.1", 0))
port = s.getsockname()[1]
s.close()
controller = Controller(Keep(), hostname="127.0.0.1", port=port)
controller.start()
with open(os.path.join(DIR, "port.tmp"), "w") as f:
    f.write(str(port))
os.rename(os.path.join(DIR, "port.tmp"), os.path.join(DIR, "port"))
time.sleep(300)
controller.stop()

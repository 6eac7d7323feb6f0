#!/usr/bin/env python3
"""Writes the RFC 4475 / RFC 5118 torture messages as golden files.

They were typed in by hand following the RFC text, not copied byte for byte: the binary part
of mpart01, the exact repeat counts of longreq and some filler headers are approximations
that keep what each message tests. Expected outcomes live in tests/test_sip_msg.c.

Notation as in RFC 4475 §2: <repeat count=N>text</repeat> expands; lines end in CRLF;
{CL} is replaced by the body length. Non-printable bytes are Python escapes.
Run from this directory: ./gen.py
"""
import os
import re

def sdp(ip="192.0.2.4", o="192.0.2.3"):
    return ("v=0\no=mhandley 29739 7272939 IN IP4 %s\ns=-\nc=IN IP4 %s\nt=0 0\n"
            "m=audio 49217 RTP/AVP 0 12\nm=video 3227 RTP/AVP 31\na=rtpmap:31 LPC\n" % (o, ip))

def expand(s):
    return re.sub(r"<repeat count=(\d+)>(.*?)</repeat>", lambda m: m.group(2) * int(m.group(1)), s)

def write(path, head, body=""):
    head = expand(head).replace("\n", "\r\n")
    body = expand(body).replace("\n", "\r\n") if isinstance(body, str) else body
    if isinstance(body, str):
        body = body.encode("utf-8")
    head = head.replace("{CL}", str(len(body)))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(head.encode("utf-8", "surrogateescape") + body)

M = {}

# ---- RFC 4475 §3.1.1 valid messages ----
M["rfc4475/wsinv.sip"] = ("""INVITE sip:vivekg@chair-dnrc.example.com;unknownparam SIP/2.0
TO :
 sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n
from   : "J Rosenberg \\\\\\""       <sip:jdrosen@example.com>
  ;
  tag = 98asjd8
MaX-fOrWaRdS: 0068
Call-ID: wsinv.ndaksdj@192.0.2.1
Content-Length   : {CL}
cseq: 0009
  INVITE
Via  : SIP  /   2.0
 /UDP
    192.0.2.2;branch=390skdjuw
s :
NewFangledHeader:   newfangled value
 continued newfangled value
UnknownHeaderWithUnusualValue: ;;,,;;,;
Content-Type: application/sdp
Route:
 <sip:services.example.com;lr;unknownwith=value;unknown-no-value>
v:  SIP  / 2.0  / TCP     spindle.example.com   ;
  branch  =   z9hG4bK9ikj8  ,
 SIP  /    2.0   / UDP  192.168.255.111   ; branch=
 z9hG4bK30239
m:"Quoted string \\"\\"" <sip:jdrosen@example.com> ; newparam =
      newvalue ;
  secondparam ; q = 0.33

""", sdp("192.0.2.4", "192.0.2.3"))

M["rfc4475/intmeth.sip"] = ("""!interesting-Method0123456789_*+`.%indeed'~ sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com SIP/2.0
Via: SIP/2.0/TCP host1.example.com;branch=z9hG4bK-.!%66*_+`'~
To: "BEL:\\\x07 NUL:\\\x00 DEL:\\\x7f" <sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*@example.com>
From: token1~` token2'+_ token3*%!.- <sip:mundane@example.com>;fromParam''~+*_!.-%="\u0440\u0430\u0431\u043e\u0442\u0430\u044e\u0449\u0438\u0439";tag=_token~1'+`*%!-.
Call-ID: intmeth.word%ZK-!.*_+'@word`~)(><:\\/"][?}{
CSeq: 139122385 !interesting-Method0123456789_*+`.%indeed'~
Max-Forwards: 255
extensionHeader-!.%*+_`'~:\ufeff\u5927\u505c\u96fb
Content-Length: 0

""", "")

M["rfc4475/esc01.sip"] = ("""INVITE sip:sips%3Auser%40example.com@example.net SIP/2.0
To: sip:%75se%72@example.com
From: <sip:I%20have%20spaces@example.net>;tag=938
Max-Forwards: 87
i: esc01.239409asdfakjkn23onasd0-3234
CSeq: 234234 INVITE
Via: SIP/2.0/UDP host5.example.net;branch=z9hG4bKkdjuw
C: application/sdp
Contact:
  <sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31>
Content-Length: {CL}

""", sdp("192.0.2.1", "192.0.2.1"))

M["rfc4475/escnull.sip"] = ("""REGISTER sip:example.com SIP/2.0
To: sip:null-%00-null@example.com
From: sip:null-%00-null@example.com;tag=839923423
Max-Forwards: 70
Call-ID: escnull.39203ndfvkjdasfkq3w4otrq0adsfdfnavd
CSeq: 14398234 REGISTER
Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bKkdjuw
Contact: <sip:%00@host5.example.com>
Contact: <sip:%00%00@host5.example.com>
L:0

""", "")

M["rfc4475/esc02.sip"] = ("""RE%47IST%45R sip:registrar.example.com SIP/2.0
To: "%Z%45" <sip:resource@example.com>
From: "%Z%45" <sip:resource@example.com>;tag=f232jadfj23
Call-ID: esc02.asdfnqwo34rq23i34jrjasdcnl23nrlknsdf
Via: SIP/2.0/TCP host.example.com;branch=z9hG4bK209324
Max-Forwards: 70
CSeq: 29344 RE%47IST%45R
Contact: <sip:alias1@host1.example.com>
C%6Fntact: <sip:alias2@host2.example.com>
Contact: <sip:alias3@host3.example.com>
l: 0

""", "")

M["rfc4475/lwsdisp.sip"] = ("""OPTIONS sip:user@example.com SIP/2.0
To: sip:user@example.com
From: caller<sip:caller@example.com>;tag=323
Max-Forwards: 70
Call-ID: lwsdisp.1234abcd@funky.example.com
CSeq: 60 OPTIONS
Via: SIP/2.0/UDP funky.example.com;branch=z9hG4bKkdjuw
l: 0

""", "")

vias = "".join("%s: SIP/2.0/TCP sip%d.example.com\n" % (["Via", "v", "V"][i % 3], n)
               for i, n in enumerate(range(33, 0, -1)))
M["rfc4475/longreq.sip"] = ("""INVITE sip:user@example.com SIP/2.0
To: "I have a user name of <repeat count=10>extreme</repeat> proportion"<sip:user@example.com:6000;unknownparam1=very<repeat count=20>long</repeat>value;longparam<repeat count=25>name</repeat>=shortvalue;very<repeat count=25>long</repeat>ParameterNameWithNoValue>
F: sip:<repeat count=5>amazinglylongcallername</repeat>@example.net;tag=12<repeat count=50>982</repeat>424;unknownheaderparam<repeat count=20>name</repeat>=unknowheaderparam<repeat count=15>value</repeat>;unknownValuelessparam<repeat count=10>name</repeat>
Call-ID: longreq.one<repeat count=20>really</repeat>longcallid
CSeq: 3882340 INVITE
Unknown-<repeat count=20>Long</repeat>-Name: unknown-<repeat count=20>long</repeat>-value; unknown-<repeat count=20>long</repeat>-parameter-name = unknown-<repeat count=20>long</repeat>-parameter-value
""" + vias + """Via: SIP/2.0/TCP host.example.com;received=192.0.2.5;branch=very<repeat count=50>long</repeat>branchvalue
Max-Forwards: 70
Contact: <sip:<repeat count=5>amazinglylongcallername</repeat>@host5.example.net>
Content-Type: application/sdp
l: {CL}

""", sdp("192.0.2.1", "192.0.2.1"))

M["rfc4475/dblreq.sip"] = ("""REGISTER sip:example.com SIP/2.0
To: sip:j.user@example.com
From: sip:j.user@example.com;tag=43251j3j324
Max-Forwards: 8
I: dblreq.0ha0isndaksdj99sdfafnl3lk233412
Contact: sip:j.user@host.example.com
CSeq: 8 REGISTER
Via: SIP/2.0/UDP 192.0.2.125;branch=z9hG4bKkdjuw23492
Content-Length: 0


INVITE sip:joe@example.com SIP/2.0
t: sip:joe@example.com
From: sip:caller@example.net;tag=141334
Max-Forwards: 8
Call-ID: dblreq.0ha0isnda977644900765@192.0.2.15
CSeq: 8 INVITE
Via: SIP/2.0/UDP 192.0.2.15;branch=z9hG4bKkdjuw380234
Content-Type: application/sdp
Content-Length: 150

""", sdp("192.0.2.15", "192.0.2.15"))

M["rfc4475/semiuri.sip"] = ("""OPTIONS sip:user;par=u%40example.net@example.com SIP/2.0
To: sip:j_user@example.com
From: sip:caller@example.org;tag=33242
Max-Forwards: 3
Call-ID: semiuri.0ha0isndaksdj
CSeq: 8 OPTIONS
Accept: application/sdp, application/pkcs7-mime,
        multipart/mixed, multipart/signed,
        message/sip, message/sipfrag
Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKkdjuw
l: 0

""", "")

M["rfc4475/transports.sip"] = ("""OPTIONS sip:user@example.com SIP/2.0
To: sip:user@example.com
From: <sip:caller@example.com>;tag=323
Max-Forwards: 70
Call-ID:  transports.kijh4akdnaqjkwendsasfdj
Accept: application/sdp
CSeq: 60 OPTIONS
Via: SIP/2.0/UDP t1.example.com;branch=z9hG4bKkdjuw
Via: SIP/2.0/SCTP t2.example.com;branch=z9hG4bKklasjdhf
Via: SIP/2.0/TLS t3.example.com;branch=z9hG4bK2980unddj
Via: SIP/2.0/UNKNOWN t4.example.com;branch=z9hG4bKasd0f3en
Via: SIP/2.0/TCP t5.example.com;branch=z9hG4bK0a9idfnee
l: 0

""", "")

mpart_body = (b"--7a9cbec02ceef655\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: binary\r\n\r\n"
              b"Hello\r\n--7a9cbec02ceef655\r\nContent-Type: application/octet-stream\r\n"
              b"Content-Transfer-Encoding: binary\r\n\r\n"
              b"0\x82\x01R\x06\t*\x86H\x86\xf7\r\x01\x07\x02\xa0\x82\x01C0\x82\x01?\x02\x01\x011\t0\x07"
              b"\x06\x05+\x0e\x03\x02\x1a0\x0b\x06\t*\x86H\x86\xf7\r\x01\x07\x01\x00\x00\r\n\x00\xff\xfe"
              b"\r\n--7a9cbec02ceef655--\r\n")
M["rfc4475/mpart01.sip"] = ("""MESSAGE sip:kumiko@example.org SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-d87543-4dade06d0bdb11ee-1--d87543-;rport
Max-Forwards: 70
Route: <sip:127.0.0.1:5080>
Identity: r5mwreLuyDRYBi/0TiPwEsY3rEVsk/G2WxhgTV1PF7hHuLCTsuPXDS6FDr==
Identity-Info: <https://example.com/cert>;alg=rsa-sha1
To: <sip:kumiko@example.org>
From: <sip:fluffy@example.com>;tag=2fb0dcc9
Call-ID: 3d9485ad0c49859b@Zmx1ZmZ5LW1hYy0xNi5sb2NhbA..
CSeq: 1 MESSAGE
Accept: text/plain, application/sdp, multipart/mixed
Content-Type: multipart/mixed;boundary=7a9cbec02ceef655
Date: Sat, 15 Oct 2005 04:44:56 GMT
User-Agent: SIPimp.org/0.2.5 (curses)
Content-Length: {CL}

""", mpart_body)

M["rfc4475/unreason.sip"] = ("""SIP/2.0 200 = 2**3 * 5**2 \u043d\u043e \u0441\u0442\u043e \u0434\u0435\u0432\u044f\u043d\u043e\u0441\u0442\u043e \u0434\u0435\u0432\u044f\u0442\u044c - \u043f\u0440\u043e\u0441\u0442\u043e\u0435
Via: SIP/2.0/UDP 192.0.2.198;branch=z9hG4bK1324923
Call-ID: unreason.1234ksdfak3j2erwedfsASdf
CSeq: 35 INVITE
From: sip:user@example.com;tag=11141343
To: sip:user@example.edu;tag=2229
Content-Length: {CL}
Content-Type: application/sdp
Contact: <sip:user@host198.example.com>

""", sdp("192.0.2.198", "192.0.2.198"))

M["rfc4475/noreason.sip"] = ("""SIP/2.0 100 
Via: SIP/2.0/UDP 192.0.2.105;branch=z9hG4bK2398ndaoe
Call-ID: noreason.asndj203insdf99223ndf
CSeq: 35 INVITE
From: <sip:user@example.com>;tag=39ansfi3
To: <sip:user@example.edu>;tag=902jndnke3
Content-Length: 0
Contact: <sip:user@host105.example.com>

""", "")

# ---- RFC 4475 §3.1.2 invalid messages ----
M["rfc4475/badinv01.sip"] = ("""INVITE sip:user@example.com SIP/2.0
To: sip:j.user@example.com
From: sip:caller@example.net;tag=134161461246
Max-Forwards: 7
Call-ID: badinv01.0ha0isndaksdjasdf3234nas
CSeq: 8 INVITE
Via: SIP/2.0/UDP 192.0.2.15;;,;,,
Contact: "Joe" <sip:joe@example.org>;;,;;,;
Content-Length: {CL}
Content-Type: application/sdp

""", sdp("192.0.2.15", "192.0.2.15"))

M["rfc4475/clerr.sip"] = ("""INVITE sip:user@example.com SIP/2.0
Max-Forwards: 80
To: sip:j.user@example.com
From: sip:caller@example.net;tag=93942939o2
Contact: <sip:caller@hungry.example.net>
Call-ID: clerr.0ha0isndaksdjweiafasdk3
CSeq: 8 INVITE
Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bK-39234-23523
Content-Type: application/sdp
Content-Length: 9999

""", sdp("192.0.2.155", "192.0.2.155"))

M["rfc4475/ncl.sip"] = ("""INVITE sip:user@example.com SIP/2.0
Max-Forwards: 254
To: sip:j.user@example.com
From: sip:caller@example.net;tag=32394234
Call-ID: ncl.0ha0isndaksdj2193423r542w35
CSeq: 0 INVITE
Via: SIP/2.0/UDP 192.0.2.53;branch=z9hG4bKkdjuw
Contact: <sip:caller@example53.example.net>
Content-Type: application/sdp
Content-Length: -999

""", sdp("192.0.2.53", "192.0.2.53"))

M["rfc4475/scalar02.sip"] = ("""REGISTER sip:example.com SIP/2.0
Via: SIP/2.0/TCP host129.example.com;branch=z9hG4bK342sdfoi3
To: <sip:user@example.com>
From: <sip:user@example.com>;tag=239232jh3
CSeq: 36893488147419103232 REGISTER
Call-ID: scalar02.23o0pd9vanlq3wnrlnewofjas9ui32
Max-Forwards: 300
Expires: 1<repeat count=100>0</repeat>
Contact: <sip:user@host129.example.com>
  ;expires=280297596632815
Content-Length: 0

""", "")

M["rfc4475/scalar1024.sip"] = ("""SIP/2.0 503 Service Unavailable
Via: SIP/2.0/TCP host129.example.com;branch=z9hG4bKzzxdiwo34sw;received=192.0.2.129
To: <sip:user@example.com>
From: <sip:other@example.net>;tag=2easdjfejw
CSeq: 9292394834772304023312 OPTIONS
Call-ID: scalar1024.39I32e2ojadfkjsfdaasd
Retry-After: 949302838503028349304023988
Warning: 1812 overture "In Progress"
Content-Length: 0

""", "")

M["rfc4475/quotbal.sip"] = ("""INVITE sip:user@example.com SIP/2.0
To: "Mr. J. User <sip:j.user@example.com>
From: sip:caller@example.net;tag=93334
Max-Forwards: 10
Call-ID: quotbal.aksdj
Contact: <sip:caller@host59.example.net>
CSeq: 8 INVITE
Via: SIP/2.0/UDP 192.0.2.59:5050;branch=z9hG4bKkdjuw39234
Content-Type: application/sdp
Content-Length: {CL}

""", sdp("192.0.2.15", "192.0.2.15"))

def simple_inv(first, name):
    return ("""%s
To: sip:user@example.com
From: sip:caller@example.net;tag=39291
Max-Forwards: 23
Call-ID: %s.1@192.0.2.5
CSeq: 1 INVITE
Via: SIP/2.0/UDP 192.0.2.5;branch=z9hG4bKkdjuw
Contact: <sip:caller@host5.example.net>
Content-Type: application/sdp
Content-Length: {CL}

""" % (first, name), sdp("192.0.2.5", "192.0.2.5"))

M["rfc4475/ltgtruri.sip"] = simple_inv("INVITE <sip:user@example.com> SIP/2.0", "ltgtruri")
M["rfc4475/lwsruri.sip"] = simple_inv("INVITE sip:user@example.com; lr SIP/2.0", "lwsruri")
M["rfc4475/lwsstart.sip"] = simple_inv("INVITE  sip:user@example.com  SIP/2.0", "lwsstart")
M["rfc4475/escruri.sip"] = simple_inv("INVITE sip:user@example.com?Route=%3Csip:example.com%3E SIP/2.0", "escruri")

M["rfc4475/trws.sip"] = ("""OPTIONS sip:remote-target@example.com SIP/2.0  
Via: SIP/2.0/TCP host1.example.com;branch=z9hG4bK299342093
To: <sip:remote-target@example.com>
From: <sip:local-resource@example.com>;tag=329429089
Call-ID: trws.oicu34958239neffasdhr2345r
Accept: application/sdp
CSeq: 238923 OPTIONS
Max-Forwards: 70
Content-Length: 0

""", "")

M["rfc4475/baddate.sip"] = ("""INVITE sip:user@example.com SIP/2.0
To: sip:user@example.com
From: sip:caller@example.net;tag=2234923
Max-Forwards: 70
Call-ID: baddate.239423mnsadf3j23lj42--sedfnm234
CSeq: 1392934 INVITE
Via: SIP/2.0/UDP host.example.com;branch=z9hG4bKkdjuw
Date: Fri, 01 Jan 2010 16:00:00 EST
Contact: <sip:caller@host5.example.net>
Content-Type: application/sdp
Content-Length: {CL}

""", sdp("192.0.2.5", "192.0.2.5"))

M["rfc4475/regbadct.sip"] = ("""REGISTER sip:example.com SIP/2.0
To: sip:user@example.com
From: sip:user@example.com;tag=998332
Max-Forwards: 70
Call-ID: regbadct.k345asrl3fdbv@10.0.0.1
CSeq: 1 REGISTER
Via: SIP/2.0/UDP 135.180.130.133:5060;branch=z9hG4bKkdjuw
Contact: sip:user@example.com?Route=%3Csip:sip.example.com%3E
l: 0

""", "")

M["rfc4475/badaspec.sip"] = ("""OPTIONS sip:user@example.org SIP/2.0
Via: SIP/2.0/UDP host4.example.com:5060;branch=z9hG4bKkdju43234
Max-Forwards: 70
From: "Bell, Alexander" <sip:a.g.bell@example.com>;tag=433423
To: "Watson, Thomas" < sip:t.watson@example.org >
Call-ID: badaspec.sdf0234n2nds0a099u23h3hnnw009cdkne3
Accept: application/sdp
CSeq: 3923239 OPTIONS
l: 0

""", "")

M["rfc4475/baddn.sip"] = ("""OPTIONS sip:t.watson@example.org SIP/2.0
Via:     SIP/2.0/UDP c.example.com:5060;branch=z9hG4bKkdjuw
Max-Forwards:      70
From:    Bell, Alexander <sip:a.g.bell@example.com>;tag=43
To:      Watson, Thomas <sip:t.watson@example.org>
Call-ID: baddn.31415@c.example.com
Accept: application/sdp
CSeq:    3923239 OPTIONS
l: 0

""", "")

def simple_opt(first, name, cseq="8 OPTIONS"):
    return ("""%s
Via: SIP/2.0/UDP host.example.com;branch=z9hG4bKkdjuw
Max-Forwards: 70
From: <sip:caller@example.com>;tag=2399
To: <sip:user@example.com>
Call-ID: %s.2f9o8j3ns@example.com
CSeq: %s
l: 0

""" % (first, name, cseq), "")

M["rfc4475/badvers.sip"] = simple_opt("OPTIONS sip:t.watson@example.org SIP/7.0", "badvers")
M["rfc4475/mismatch01.sip"] = simple_opt("OPTIONS sip:user@example.com SIP/2.0", "mismatch01", "8 INVITE")
M["rfc4475/mismatch02.sip"] = simple_opt("NEWMETHOD sip:user@example.com SIP/2.0", "mismatch02", "8 INVITE")

M["rfc4475/bigcode.sip"] = ("""SIP/2.0 4294967301 better not break the receiver
Via: SIP/2.0/UDP 192.0.2.105;branch=z9hG4bK2398ndaoe
Call-ID: bigcode.asdof3uj203asdnf3429uasdhfas3ehjasdfas9i
CSeq: 353494 INVITE
From: <sip:user@example.com>;tag=39ansfi3
To: <sip:user@example.edu>;tag=902jndnke3
Content-Length: 0
Contact: <sip:user@host105.example.com>

""", "")

# ---- RFC 4475 §3.2 transaction layer (parser half only) ----
M["rfc4475/insuf.sip"] = ("""INVITE sip:user@example.com SIP/2.0
CSeq: 193942 INVITE
Via: SIP/2.0/UDP 192.0.2.95;branch=z9hG4bKkdj.insuf
Content-Type: application/sdp
l: {CL}

""", sdp("192.0.2.95", "192.0.2.95"))

M["rfc4475/unkscm.sip"] = simple_opt("OPTIONS nobodyKnowsThisScheme:totallyopaquecontent SIP/2.0", "unkscm")
M["rfc4475/novelsc.sip"] = simple_opt("OPTIONS soap.beep://192.0.2.103:3002 SIP/2.0", "novelsc")

M["rfc4475/unksm2.sip"] = ("""REGISTER sip:example.com SIP/2.0
To: isbn:2983792873
From: <http://www.example.com>;tag=3234233
Call-ID: unksm2.daksdj@hyphenated-host.example.com
CSeq: 234902 REGISTER
Max-Forwards: 70
Via: SIP/2.0/UDP 192.0.2.21:5060;branch=z9hG4bKkdjuw
Contact: <name:John_Smith>
l: 0

""", "")

M["rfc4475/bext01.sip"] = ("""OPTIONS sip:user@example.com SIP/2.0
To: sip:j_user@example.com
From: sip:caller@example.net;tag=242etr
Max-Forwards: 6
Call-ID: bext01.0ha0isndaksdj
Require: nothingSupportedHere
CSeq: 8 OPTIONS
Via: SIP/2.0/UDP 192.0.2.15;branch=z9hG4bKkdjuw
Content-Length: 0

""", "")

M["rfc4475/invut.sip"] = ("""INVITE sip:user@example.com SIP/2.0
Contact: <sip:caller@host5.example.net>
To: sip:j.user@example.com
From: sip:caller@example.net;tag=8392034
Max-Forwards: 70
Call-ID: invut.0ha0isndaksdjadsfij34n23d
CSeq: 235448 INVITE
Via: SIP/2.0/UDP somehost.example.com;branch=z9hG4bKkdjuw
Content-Type: application/unknownformat
Content-Length: {CL}

""", "<audio>\n <pcmu port=\"443\"/>\n</audio>\n")

M["rfc4475/regaut01.sip"] = ("""REGISTER sip:example.com SIP/2.0
To: sip:j.user@example.com
From: sip:j.user@example.com;tag=87321hj23128
Max-Forwards: 8
Call-ID: regaut01.0ha0isndaksdj
CSeq: 9338 REGISTER
Via: SIP/2.0/TCP 192.0.2.253;branch=z9hG4bKkdjuw
Authorization: NoOneKnowsThisScheme opaque-data=here
Content-Length:0

""", "")

M["rfc4475/multi01.sip"] = ("""INVITE sip:user@company.com SIP/2.0
Contact: <sip:caller@host25.example.net>
Via: SIP/2.0/UDP 192.0.2.25;branch=z9hG4bKkdjuw
Max-Forwards: 70
CSeq: 5 INVITE
Call-ID: multi01.98asdh@192.0.2.1
CSeq: 59 INVITE
Call-ID: multi01.98asdh@192.0.2.2
From: sip:caller@example.com;tag=3413415
To: sip:user@example.com
To: sip:other@example.net
From: sip:caller@example.net;tag=2923420123
Content-Type: application/sdp
l: {CL}
Contact: <sip:caller@host36.example.net>
Max-Forwards: 5

""", sdp("192.0.2.25", "192.0.2.25"))

M["rfc4475/mcl01.sip"] = ("""OPTIONS sip:user@example.com SIP/2.0
Via: SIP/2.0/UDP host5.example.net;branch=z9hG4bK293423
To: sip:user@example.com
From: sip:other@example.net;tag=3923942
Call-ID: mcl01.fhn2323orihawfdoa3o4r52o3irsdf
CSeq: 15932 OPTIONS
Content-Length: 13
Max-Forwards: 60
Content-Length: 5
Content-Type: text/plain

""", "There's no way to know how many octets are supposed to be here.\n")

M["rfc4475/bcast.sip"] = ("""SIP/2.0 200 OK
Via: SIP/2.0/UDP 192.0.2.198;branch=z9hG4bK1324923
Via: SIP/2.0/UDP 255.255.255.255;branch=z9hG4bK1saber23
Call-ID: bcast.0ha0isndaksdj
CSeq: 3882340 INVITE
From: <sip:user@example.com>;tag=2ef2ae
To: <sip:user@example.org>;tag=2349289
Contact: <sip:user@host28.example.com>
Content-Length: 0

""", "")

M["rfc4475/zeomf.sip"] = ("""OPTIONS sip:user@example.com SIP/2.0
Via: SIP/2.0/UDP host1.example.com;branch=z9hG4bK23342
To: <sip:user@example.com>
From: <sip:caller@example.com>;tag=3ghfj3
Call-ID: zeomf.dkfj1234
CSeq: 3 OPTIONS
Max-Forwards: 0
Content-Length: 0

""", "")

M["rfc4475/cparam01.sip"] = ("""REGISTER sip:example.com SIP/2.0
Via: SIP/2.0/UDP saturn.example.com:5060;branch=z9hG4bKkdjuw
Max-Forwards: 70
From: sip:watson@example.com;tag=DkfVgjkrtMwaerKKpe
To: sip:watson@example.com
Call-ID: cparam01.70710@saturn.example.com
CSeq: 2 REGISTER
Contact: sip:+19725552222@gw1.example.net;unknownparam
l: 0

""", "")

M["rfc4475/cparam02.sip"] = ("""REGISTER sip:example.com SIP/2.0
Via: SIP/2.0/UDP saturn.example.com:5060;branch=z9hG4bKkdjuw
Max-Forwards: 70
From: sip:watson@example.com;tag=838293
To: sip:watson@example.com
Call-ID: cparam02.70710@saturn.example.com
CSeq: 3 REGISTER
Contact: <sip:+19725552222@gw1.example.net;unknownparam>
l: 0

""", "")

M["rfc4475/regescrt.sip"] = ("""REGISTER sip:example.com SIP/2.0
To: sip:user@example.com
From: sip:user@example.com;tag=8
Max-Forwards: 70
Call-ID: regescrt.k345asrl3fdbv@192.0.2.1
CSeq: 14398234 REGISTER
Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bKkdjuw
M: <sip:user@example.com?Route=%3Csip:sip.example.com%3E>
L:0

""", "")

M["rfc4475/sdp01.sip"] = ("""INVITE sip:user@example.com SIP/2.0
To: sip:j_user@example.com
Contact: <sip:caller@host15.example.net>
From: sip:caller@example.net;tag=234
Max-Forwards: 5
Call-ID: sdp01.ndaksdj9342dasdd
Accept: text/nobodyKnowsThis
CSeq: 8 INVITE
Via: SIP/2.0/UDP 60.0.0.15;branch=z9hG4bKkdjuw
Content-Length: {CL}
Content-Type: application/sdp

""", sdp("192.0.2.5", "192.0.2.5"))

M["rfc4475/inv2543.sip"] = ("""INVITE sip:UserB@example.com SIP/2.0
Via: SIP/2.0/UDP iftgw.example.com
From: <sip:+13035551111@ift.here.example.com;user=phone>
Record-Route: <sip:UserB@example.com;maddr=ss1.example.com>
To: sip:+16505552222@ss1.example.net;user=phone
Call-ID: inv2543.1717@ift.here.example.com
CSeq: 56 INVITE
Content-Type: application/sdp
Content-Length: {CL}

""", sdp("192.0.2.5", "192.0.2.5"))

# ---- RFC 5118 IPv6 ----
def reg6(ruri, name, via="SIP/2.0/UDP [2001:db8::9:1];branch=z9hG4bKas3-111",
         contact='"Caller" <sip:caller@[2001:db8::1]>', to="sip:user@[2001:db8::10]"):
    return ("""REGISTER %s SIP/2.0
To: %s
From: sip:user@example.com;tag=81x2
Via: %s
Call-ID: SSG9559905523997077@hlau_4100
Max-Forwards: 70
Contact: %s
CSeq: 98176 REGISTER
Content-Length: 0

""" % (ruri, to, via, contact), "")

M["rfc5118/ipv6-good.sip"] = reg6("sip:[2001:db8::10]", "good")
M["rfc5118/port-ambiguous.sip"] = reg6("sip:[2001:db8::10:5070]", "amb")
M["rfc5118/port-unambiguous.sip"] = reg6("sip:[2001:db8::10]:5070", "unamb")
M["rfc5118/ipv6-bad.sip"] = reg6("sip:2001:db8::10", "bad")
M["rfc5118/via-received-param-with-delim.sip"] = reg6(
    "sip:[2001:db8::10]", "rcv",
    via="SIP/2.0/UDP [2001:db8::9:1];received=[2001:db8::9:255];branch=z9hG4bKas3-111")
M["rfc5118/via-received-param-no-delim.sip"] = reg6(
    "sip:[2001:db8::10]", "rcv2",
    via="SIP/2.0/UDP [2001:db8::9:1];received=2001:db8::9:255;branch=z9hG4bKas3-111")
M["rfc5118/ipv4-mapped-ipv6.sip"] = reg6(
    "sip:[::ffff:192.0.2.10]", "mapped", contact="<sip:user@[::ffff:192.0.2.10]>")
M["rfc5118/ipv6-correct-abnf-2-colons.sip"] = reg6(
    "sip:[2001:db8::192.0.2.1]", "abnf2", contact="<sip:user@[2001:db8::192.0.2.1]>")
M["rfc5118/ipv6-bug-abnf-3-colons.sip"] = reg6(
    "sip:[2001:db8:::192.0.2.1]", "abnf3", contact="<sip:user@[2001:db8:::192.0.2.1]>")

if __name__ == "__main__":
    here = os.path.dirname(os.path.abspath(__file__))
    for name, (head, body) in M.items():
        write(os.path.join(here, name), head, body)
    print("wrote %d messages" % len(M))

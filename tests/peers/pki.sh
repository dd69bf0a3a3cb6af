# A small test PKI made with the openssl command; sourced.
#
#   pki_make DIR
#
# creates in DIR (which must exist):
#   ca.crt ca.key                   the test CA "Lab Test CA"
#   good.crt good.key               by the CA, CN and SAN mx.good.test, valid
#   expired.crt expired.key         by the CA, mx.expired.test, expired a year ago
#   selfsigned.crt selfsigned.key   self-signed, mx.selfsigned.test
#   wronghost.crt wronghost.key     by the CA, CN and SAN other.name.test
#                                   (the test serves it as mx.wronghost.test)
# RSA 2048 keys, SHA-256.  The expired certificate is signed with
# "openssl ca -startdate -enddate" (OpenSSL 3.0's x509 command cannot set
# dates in the past).  Returns 1, with openssl's messages in DIR/pki.log,
# when a step fails.
#
#   pki_host DIR NAME HOST...
#
# adds NAME.crt and NAME.key for arbitrary host names (see below).

pki_make() {
	_pd=$1
	: > "$_pd/pki.log"
	# the CA, with the extensions a CA certificate must carry for OpenSSL 3
	cat > "$_pd/ca.cnf" <<'CNF'
[req]
distinguished_name = dn
prompt = no
[dn]
CN = Lab Test CA
O = tlsrpt-milter tests
[v3_ca]
basicConstraints = critical, CA:true
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[ca]
default_ca = testca
[testca]
dir = @DIR@
database = $dir/ca.index
new_certs_dir = $dir/ca.newcerts
serial = $dir/ca.serial
default_md = sha256
policy = anything
copy_extensions = none
unique_subject = no
[anything]
commonName = supplied
CNF
	sed -i "s|@DIR@|$_pd|" "$_pd/ca.cnf"
	openssl req -x509 -new -newkey rsa:2048 -nodes -sha256 -days 3650 \
	    -config "$_pd/ca.cnf" -extensions v3_ca \
	    -keyout "$_pd/ca.key" -out "$_pd/ca.crt" >>"$_pd/pki.log" 2>&1 || return 1

	# leaf certificates: NAME CN [self]
	_pki_leaf() {
		cat > "$_pd/$1.ext" <<EXT
basicConstraints = CA:false
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:$2
EXT
		if [ "${3:-}" = self ]; then
			openssl req -x509 -new -newkey rsa:2048 -nodes -sha256 -days 3650 \
			    -subj "/CN=$2" -addext "subjectAltName=DNS:$2" \
			    -addext "basicConstraints=CA:false" \
			    -keyout "$_pd/$1.key" -out "$_pd/$1.crt" >>"$_pd/pki.log" 2>&1
			return
		fi
		openssl req -new -newkey rsa:2048 -nodes -subj "/CN=$2" \
		    -keyout "$_pd/$1.key" -out "$_pd/$1.csr" >>"$_pd/pki.log" 2>&1 || return 1
		openssl x509 -req -in "$_pd/$1.csr" -CA "$_pd/ca.crt" -CAkey "$_pd/ca.key" \
		    -CAcreateserial -sha256 -days 3650 -extfile "$_pd/$1.ext" \
		    -out "$_pd/$1.crt" >>"$_pd/pki.log" 2>&1
	}
	_pki_leaf good mx.good.test || return 1
	_pki_leaf wronghost other.name.test || return 1
	_pki_leaf selfsigned mx.selfsigned.test self || return 1

	# expired: valid from two years ago until one year ago
	: > "$_pd/ca.index"
	echo 1000 > "$_pd/ca.serial"
	mkdir -p "$_pd/ca.newcerts"
	_y=$(date -u +%Y)
	openssl req -new -newkey rsa:2048 -nodes -subj "/CN=mx.expired.test" \
	    -keyout "$_pd/expired.key" -out "$_pd/expired.csr" >>"$_pd/pki.log" 2>&1 || return 1
	cat > "$_pd/expired.ext" <<'EXT'
basicConstraints = CA:false
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:mx.expired.test
EXT
	openssl ca -batch -config "$_pd/ca.cnf" -notext -md sha256 \
	    -cert "$_pd/ca.crt" -keyfile "$_pd/ca.key" \
	    -startdate "$((_y - 2))0101000000Z" -enddate "$((_y - 1))0101000000Z" \
	    -extfile "$_pd/expired.ext" -in "$_pd/expired.csr" \
	    -out "$_pd/expired.crt" >>"$_pd/pki.log" 2>&1 || return 1

	# check what was made, so a broken PKI fails here and not as a
	# puzzling TLS result later
	openssl verify -CAfile "$_pd/ca.crt" "$_pd/good.crt" "$_pd/wronghost.crt" \
	    >>"$_pd/pki.log" 2>&1 || return 1
	openssl verify -CAfile "$_pd/ca.crt" "$_pd/expired.crt" >>"$_pd/pki.log" 2>&1 && return 1
	grep -q 'certificate has expired' "$_pd/pki.log" || return 1
	chmod 644 "$_pd"/*.crt
	chmod 600 "$_pd"/*.key
	return 0
}

# pki_host DIR NAME HOST...
#
# after pki_make DIR: NAME.crt and NAME.key, an EC P-256 certificate by
# the test CA for the host names given (CN the first, SAN all of them),
# valid for ten years.  Returns 1, with openssl's messages in
# DIR/pki.log, when a step fails.

pki_host() {
	_hd=$1 _hn=$2
	shift 2
	_san=
	for _h in "$@"; do
		_san="${_san:+$_san,}DNS:$_h"
	done
	cat > "$_hd/$_hn.ext" <<EXT
basicConstraints = CA:false
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = $_san
EXT
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$1" \
	    -keyout "$_hd/$_hn.key" -out "$_hd/$_hn.csr" >>"$_hd/pki.log" 2>&1 || return 1
	openssl x509 -req -in "$_hd/$_hn.csr" -CA "$_hd/ca.crt" -CAkey "$_hd/ca.key" \
	    -CAcreateserial -sha256 -days 3650 -extfile "$_hd/$_hn.ext" \
	    -out "$_hd/$_hn.crt" >>"$_hd/pki.log" 2>&1 || return 1
	chmod 644 "$_hd/$_hn.crt"
	chmod 600 "$_hd/$_hn.key"
	return 0
}

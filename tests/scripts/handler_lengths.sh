#!/bin/sh
# Body lines of every route handler (a function named in a `.to(...)` route) under
# idp-server/src/web and idp-admin/src/console, longest first.
dirs="idp-server/src/web idp-admin/src/console"
names=$(grep -rhoE '\.to\(([a-z_]+::)*[a-z_0-9]+\)' $dirs | sed -E 's/.*[(:]([a-z_0-9]+)\)$/\1/' | sort -u | tr '\n' ' ')
find $dirs -name '*.rs' | xargs awk -v names=" $names " '
/^(pub(\([a-z]+\))? )?async fn / { name=$0; sub(/^.*async fn /,"",name); sub(/[(<].*/,"",name); if ($0 ~ /\{$/) { inbody=1; n=0 } else insig=1; next }
insig && /\{$/ { insig=0; inbody=1; n=0; next }
inbody && /^\}/ { if (index(names, " " name " ")) print n, FILENAME "::" name; inbody=0; next }
inbody { n++ }' | sort -rn

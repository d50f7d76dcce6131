# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_depot_global_optspecs
    string join \n db= h/help V/version
end

function __fish_depot_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_depot_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_depot_using_subcommand
    set -l cmd (__fish_depot_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c depot -n "__fish_depot_needs_command" -l db -d 'The database file' -r -F
complete -c depot -n "__fish_depot_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c depot -n "__fish_depot_needs_command" -s V -l version -d 'Print version'
complete -c depot -n "__fish_depot_needs_command" -f -a "serve" -d 'Run the registry server'
complete -c depot -n "__fish_depot_needs_command" -f -a "user" -d 'Manage users'
complete -c depot -n "__fish_depot_needs_command" -f -a "org" -d 'Manage organizations and their members'
complete -c depot -n "__fish_depot_needs_command" -f -a "token" -d 'Manage access tokens'
complete -c depot -n "__fish_depot_needs_command" -f -a "verify" -d 'Re-read every stored byte and check every hash, reference and count'
complete -c depot -n "__fish_depot_needs_command" -f -a "backup" -d 'Write a consistent copy of the database to FILE'
complete -c depot -n "__fish_depot_needs_command" -f -a "compact" -d 'Return the space freed by deletions to the file system'
complete -c depot -n "__fish_depot_needs_command" -f -a "go" -d 'Go module tools'
complete -c depot -n "__fish_depot_needs_command" -f -a "quota" -d 'Per-owner limits (storage bytes, number of versions) and usage'
complete -c depot -n "__fish_depot_needs_command" -f -a "blobs" -d 'Where file content lives: the database file or an S3-compatible object store'
complete -c depot -n "__fish_depot_needs_command" -f -a "rules" -d 'Cleanup rules: which versions of an owner\'s packages are removed, and when'
complete -c depot -n "__fish_depot_needs_command" -f -a "generate" -d 'Write the man page or a shell completion script to standard output'
complete -c depot -n "__fish_depot_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c depot -n "__fish_depot_using_subcommand serve" -l config -d 'A TOML file of settings; flags and DEPOT_* variables override it' -r -F
complete -c depot -n "__fish_depot_using_subcommand serve" -l listen -d 'Address and port to listen on' -r
complete -c depot -n "__fish_depot_using_subcommand serve" -l tls-cert -d 'TLS certificate chain (PEM); with --tls-key, serve HTTPS only' -r -F
complete -c depot -n "__fish_depot_using_subcommand serve" -l tls-key -d 'TLS private key (PEM) matching --tls-cert; reloaded with it on SIGHUP' -r -F
complete -c depot -n "__fish_depot_using_subcommand serve" -l max-file-size -d 'Largest file accepted (bytes, or with a unit: 1G, 512MiB); larger uploads get 413' -r
complete -c depot -n "__fish_depot_using_subcommand serve" -l body-idle-timeout-secs -d 'Seconds a client may send nothing (upload, 408) or take nothing (download) before it is cut off' -r
complete -c depot -n "__fish_depot_using_subcommand serve" -l header-timeout-secs -d 'Seconds a client has to send a request\'s headers; also the keep-alive idle limit' -r
complete -c depot -n "__fish_depot_using_subcommand serve" -l max-header-bytes -d 'Largest request head (request line plus headers): bytes, or with a unit (32KiB)' -r
complete -c depot -n "__fish_depot_using_subcommand serve" -l max-connections -d 'Open connections at most. Each download buffers at most ~2 MiB, so this also bounds the memory downloads can take' -r
complete -c depot -n "__fish_depot_using_subcommand serve" -l login-burst -d 'Failed sign-ins (wrong password or token) a client address may make at once (a user name, over all addresses, twice as many); past them, attempts get 429 until the budget refills' -r
complete -c depot -n "__fish_depot_using_subcommand serve" -l login-refill-secs -d 'Seconds for a client address to earn back one failed sign-in; a user name earns one back in half the time, so one address alone cannot lock a user out' -r
complete -c depot -n "__fish_depot_using_subcommand serve" -l grace-secs -d 'Seconds in-flight requests and admin commands may run on after SIGTERM/SIGINT' -r
complete -c depot -n "__fish_depot_using_subcommand serve" -l cache-mib -d 'Database page cache, in MiB. Bounds the memory used for reads' -r
complete -c depot -n "__fish_depot_using_subcommand serve" -l file-cache-mib -d 'Small-file cache, in MiB: whole files of at most 64 KiB kept in memory and served without touching the database (about 20,000 files of 4 KiB at the default)' -r
complete -c depot -n "__fish_depot_using_subcommand serve" -l blob-store -d 'Where new file content goes: `local` (the database file) or `s3` (an S3-compatible object store such as Garage; metadata stays in the database file)' -r -f -a "local\t''
s3\t''"
complete -c depot -n "__fish_depot_using_subcommand serve" -l s3-endpoint -d 'The object store\'s URL: scheme, host and port (http://127.0.0.1:3900). Requests are path-style and signed for this host name' -r
complete -c depot -n "__fish_depot_using_subcommand serve" -l s3-bucket -d 'The bucket holding depot\'s objects (under depot/blobs/)' -r
complete -c depot -n "__fish_depot_using_subcommand serve" -l s3-region -d 'The store\'s region (Garage\'s default is "garage")' -r
complete -c depot -n "__fish_depot_using_subcommand serve" -l s3-inline-max -d 'Files up to this size stay in the database file (bytes, or with a unit)' -r
complete -c depot -n "__fish_depot_using_subcommand serve" -l s3-timeout-secs -d 'Seconds one call to the object store may take (a part upload, a delete, the wait for the next piece of a download) before the request fails with 503' -r
complete -c depot -n "__fish_depot_using_subcommand serve" -l s3-orphan-age-secs -d 'Objects under depot/blobs/ that the database does not know are deleted once older than this many seconds (checked at start and every 10 minutes)' -r
complete -c depot -n "__fish_depot_using_subcommand serve" -l s3-access-key-id -d 'The object store\'s access key id. Environment or config file only: the command line refuses it (`ps` shows every process\'s arguments)' -r
complete -c depot -n "__fish_depot_using_subcommand serve" -l s3-secret-access-key -d 'The object store\'s secret key; environment or config file only, as the key id' -r
complete -c depot -n "__fish_depot_using_subcommand serve" -l cleanup-interval -d 'How often enabled cleanup rules are applied: seconds, or with a unit (30m, 24h, 7d)' -r
complete -c depot -n "__fish_depot_using_subcommand serve" -l db -d 'The database file' -r -F
complete -c depot -n "__fish_depot_using_subcommand serve" -l s3-redirect -d 'Answer downloads of content in the store with a 302 to a presigned URL valid for 5 minutes (the 302 carries ETag and X-Checksum-Sha256); HEAD is answered by depot'
complete -c depot -n "__fish_depot_using_subcommand serve" -l webhook-allow-private -d 'Let webhooks target loopback, private (RFC 1918, fc00::/7), link-local, CGNAT and other non-public addresses'
complete -c depot -n "__fish_depot_using_subcommand serve" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c depot -n "__fish_depot_using_subcommand serve" -s V -l version -d 'Print version'
complete -c depot -n "__fish_depot_using_subcommand user; and not __fish_seen_subcommand_from add list delete passwd help" -l db -d 'The database file' -r -F
complete -c depot -n "__fish_depot_using_subcommand user; and not __fish_seen_subcommand_from add list delete passwd help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c depot -n "__fish_depot_using_subcommand user; and not __fish_seen_subcommand_from add list delete passwd help" -s V -l version -d 'Print version'
complete -c depot -n "__fish_depot_using_subcommand user; and not __fish_seen_subcommand_from add list delete passwd help" -f -a "add" -d 'Create a user; the password is read from the first line of standard input'
complete -c depot -n "__fish_depot_using_subcommand user; and not __fish_seen_subcommand_from add list delete passwd help" -f -a "list" -d 'List users: NAME, admin|user, public|private, BYTES, VERSIONS (tab-separated)'
complete -c depot -n "__fish_depot_using_subcommand user; and not __fish_seen_subcommand_from add list delete passwd help" -f -a "delete" -d 'Delete a user and their tokens (refused while they own packages)'
complete -c depot -n "__fish_depot_using_subcommand user; and not __fish_seen_subcommand_from add list delete passwd help" -f -a "passwd" -d 'Set a user\'s password from the first line of standard input'
complete -c depot -n "__fish_depot_using_subcommand user; and not __fish_seen_subcommand_from add list delete passwd help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c depot -n "__fish_depot_using_subcommand user; and __fish_seen_subcommand_from add" -l db -d 'The database file' -r -F
complete -c depot -n "__fish_depot_using_subcommand user; and __fish_seen_subcommand_from add" -l admin -d 'Make the user an administrator (may read and write everything, manage accounts)'
complete -c depot -n "__fish_depot_using_subcommand user; and __fish_seen_subcommand_from add" -l private -d 'Hide the user\'s packages from everyone but the user and administrators'
complete -c depot -n "__fish_depot_using_subcommand user; and __fish_seen_subcommand_from add" -l password-stdin -d 'Read the password from standard input (required: passwords never go on the command line)'
complete -c depot -n "__fish_depot_using_subcommand user; and __fish_seen_subcommand_from add" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c depot -n "__fish_depot_using_subcommand user; and __fish_seen_subcommand_from add" -s V -l version -d 'Print version'
complete -c depot -n "__fish_depot_using_subcommand user; and __fish_seen_subcommand_from list" -l db -d 'The database file' -r -F
complete -c depot -n "__fish_depot_using_subcommand user; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c depot -n "__fish_depot_using_subcommand user; and __fish_seen_subcommand_from list" -s V -l version -d 'Print version'
complete -c depot -n "__fish_depot_using_subcommand user; and __fish_seen_subcommand_from delete" -l db -d 'The database file' -r -F
complete -c depot -n "__fish_depot_using_subcommand user; and __fish_seen_subcommand_from delete" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c depot -n "__fish_depot_using_subcommand user; and __fish_seen_subcommand_from delete" -s V -l version -d 'Print version'
complete -c depot -n "__fish_depot_using_subcommand user; and __fish_seen_subcommand_from passwd" -l db -d 'The database file' -r -F
complete -c depot -n "__fish_depot_using_subcommand user; and __fish_seen_subcommand_from passwd" -l password-stdin -d 'Read the password from standard input'
complete -c depot -n "__fish_depot_using_subcommand user; and __fish_seen_subcommand_from passwd" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c depot -n "__fish_depot_using_subcommand user; and __fish_seen_subcommand_from passwd" -s V -l version -d 'Print version'
complete -c depot -n "__fish_depot_using_subcommand user; and __fish_seen_subcommand_from help" -f -a "add" -d 'Create a user; the password is read from the first line of standard input'
complete -c depot -n "__fish_depot_using_subcommand user; and __fish_seen_subcommand_from help" -f -a "list" -d 'List users: NAME, admin|user, public|private, BYTES, VERSIONS (tab-separated)'
complete -c depot -n "__fish_depot_using_subcommand user; and __fish_seen_subcommand_from help" -f -a "delete" -d 'Delete a user and their tokens (refused while they own packages)'
complete -c depot -n "__fish_depot_using_subcommand user; and __fish_seen_subcommand_from help" -f -a "passwd" -d 'Set a user\'s password from the first line of standard input'
complete -c depot -n "__fish_depot_using_subcommand user; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c depot -n "__fish_depot_using_subcommand org; and not __fish_seen_subcommand_from add member help" -l db -d 'The database file' -r -F
complete -c depot -n "__fish_depot_using_subcommand org; and not __fish_seen_subcommand_from add member help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c depot -n "__fish_depot_using_subcommand org; and not __fish_seen_subcommand_from add member help" -s V -l version -d 'Print version'
complete -c depot -n "__fish_depot_using_subcommand org; and not __fish_seen_subcommand_from add member help" -f -a "add" -d 'Create an organization'
complete -c depot -n "__fish_depot_using_subcommand org; and not __fish_seen_subcommand_from add member help" -f -a "member" -d 'Manage organization members'
complete -c depot -n "__fish_depot_using_subcommand org; and not __fish_seen_subcommand_from add member help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c depot -n "__fish_depot_using_subcommand org; and __fish_seen_subcommand_from add" -l db -d 'The database file' -r -F
complete -c depot -n "__fish_depot_using_subcommand org; and __fish_seen_subcommand_from add" -l private -d 'Hide the organization\'s packages from everyone but members and administrators'
complete -c depot -n "__fish_depot_using_subcommand org; and __fish_seen_subcommand_from add" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c depot -n "__fish_depot_using_subcommand org; and __fish_seen_subcommand_from add" -s V -l version -d 'Print version'
complete -c depot -n "__fish_depot_using_subcommand org; and __fish_seen_subcommand_from member" -l db -d 'The database file' -r -F
complete -c depot -n "__fish_depot_using_subcommand org; and __fish_seen_subcommand_from member" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c depot -n "__fish_depot_using_subcommand org; and __fish_seen_subcommand_from member" -s V -l version -d 'Print version'
complete -c depot -n "__fish_depot_using_subcommand org; and __fish_seen_subcommand_from member" -f -a "add" -d 'Add a member, or change their role'
complete -c depot -n "__fish_depot_using_subcommand org; and __fish_seen_subcommand_from member" -f -a "remove" -d 'Remove a member'
complete -c depot -n "__fish_depot_using_subcommand org; and __fish_seen_subcommand_from member" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c depot -n "__fish_depot_using_subcommand org; and __fish_seen_subcommand_from help" -f -a "add" -d 'Create an organization'
complete -c depot -n "__fish_depot_using_subcommand org; and __fish_seen_subcommand_from help" -f -a "member" -d 'Manage organization members'
complete -c depot -n "__fish_depot_using_subcommand org; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c depot -n "__fish_depot_using_subcommand token; and not __fish_seen_subcommand_from create list revoke help" -l db -d 'The database file' -r -F
complete -c depot -n "__fish_depot_using_subcommand token; and not __fish_seen_subcommand_from create list revoke help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c depot -n "__fish_depot_using_subcommand token; and not __fish_seen_subcommand_from create list revoke help" -s V -l version -d 'Print version'
complete -c depot -n "__fish_depot_using_subcommand token; and not __fish_seen_subcommand_from create list revoke help" -f -a "create" -d 'Create a token for a user and print it (shown only this once)'
complete -c depot -n "__fish_depot_using_subcommand token; and not __fish_seen_subcommand_from create list revoke help" -f -a "list" -d 'List a user\'s tokens: LABEL, read|write, CREATED, EXPIRES|never (tab-separated; times in RFC 3339; never the secret)'
complete -c depot -n "__fish_depot_using_subcommand token; and not __fish_seen_subcommand_from create list revoke help" -f -a "revoke" -d 'Revoke a user\'s token by label'
complete -c depot -n "__fish_depot_using_subcommand token; and not __fish_seen_subcommand_from create list revoke help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c depot -n "__fish_depot_using_subcommand token; and __fish_seen_subcommand_from create" -l name -d 'A label to list and revoke the token by (default: token-<unix time>-<4 hex digits>)' -r
complete -c depot -n "__fish_depot_using_subcommand token; and __fish_seen_subcommand_from create" -l scope -d 'What the token may do' -r -f -a "read\t''
write\t''"
complete -c depot -n "__fish_depot_using_subcommand token; and __fish_seen_subcommand_from create" -l expires-in-days -d 'Days until the token expires (default: never)' -r
complete -c depot -n "__fish_depot_using_subcommand token; and __fish_seen_subcommand_from create" -l db -d 'The database file' -r -F
complete -c depot -n "__fish_depot_using_subcommand token; and __fish_seen_subcommand_from create" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c depot -n "__fish_depot_using_subcommand token; and __fish_seen_subcommand_from create" -s V -l version -d 'Print version'
complete -c depot -n "__fish_depot_using_subcommand token; and __fish_seen_subcommand_from list" -l db -d 'The database file' -r -F
complete -c depot -n "__fish_depot_using_subcommand token; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c depot -n "__fish_depot_using_subcommand token; and __fish_seen_subcommand_from list" -s V -l version -d 'Print version'
complete -c depot -n "__fish_depot_using_subcommand token; and __fish_seen_subcommand_from revoke" -l db -d 'The database file' -r -F
complete -c depot -n "__fish_depot_using_subcommand token; and __fish_seen_subcommand_from revoke" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c depot -n "__fish_depot_using_subcommand token; and __fish_seen_subcommand_from revoke" -s V -l version -d 'Print version'
complete -c depot -n "__fish_depot_using_subcommand token; and __fish_seen_subcommand_from help" -f -a "create" -d 'Create a token for a user and print it (shown only this once)'
complete -c depot -n "__fish_depot_using_subcommand token; and __fish_seen_subcommand_from help" -f -a "list" -d 'List a user\'s tokens: LABEL, read|write, CREATED, EXPIRES|never (tab-separated; times in RFC 3339; never the secret)'
complete -c depot -n "__fish_depot_using_subcommand token; and __fish_seen_subcommand_from help" -f -a "revoke" -d 'Revoke a user\'s token by label'
complete -c depot -n "__fish_depot_using_subcommand token; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c depot -n "__fish_depot_using_subcommand verify" -l db -d 'The database file' -r -F
complete -c depot -n "__fish_depot_using_subcommand verify" -l repair -d 'First fix what can be fixed without losing any file (orphaned blobs and chunks, wrong reference counts, index entries, empty or missing version and package records, memberships and tokens of deleted accounts), printing each fix; then verify'
complete -c depot -n "__fish_depot_using_subcommand verify" -l deep -d 'Also re-read every object in the object store and check its sha256 (streamed; as long as downloading all of it takes). Without it, objects are checked for existence and size only'
complete -c depot -n "__fish_depot_using_subcommand verify" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c depot -n "__fish_depot_using_subcommand verify" -s V -l version -d 'Print version'
complete -c depot -n "__fish_depot_using_subcommand backup" -l db -d 'The database file' -r -F
complete -c depot -n "__fish_depot_using_subcommand backup" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c depot -n "__fish_depot_using_subcommand backup" -s V -l version -d 'Print version'
complete -c depot -n "__fish_depot_using_subcommand compact" -l max-pause -d 'Through a running server, the longest estimated pause accepted, in seconds' -r
complete -c depot -n "__fish_depot_using_subcommand compact" -l db -d 'The database file' -r -F
complete -c depot -n "__fish_depot_using_subcommand compact" -l allow-pause -d 'Through a running server, compact however long requests must wait'
complete -c depot -n "__fish_depot_using_subcommand compact" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c depot -n "__fish_depot_using_subcommand compact" -s V -l version -d 'Print version'
complete -c depot -n "__fish_depot_using_subcommand go; and not __fish_seen_subcommand_from zip help" -l db -d 'The database file' -r -F
complete -c depot -n "__fish_depot_using_subcommand go; and not __fish_seen_subcommand_from zip help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c depot -n "__fish_depot_using_subcommand go; and not __fish_seen_subcommand_from zip help" -s V -l version -d 'Print version'
complete -c depot -n "__fish_depot_using_subcommand go; and not __fish_seen_subcommand_from zip help" -f -a "zip" -d 'Build a module zip from a source directory, ready to upload'
complete -c depot -n "__fish_depot_using_subcommand go; and not __fish_seen_subcommand_from zip help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c depot -n "__fish_depot_using_subcommand go; and __fish_seen_subcommand_from zip" -l module -d 'The module path, e.g. example.com/team/mod (must match go.mod\'s module line)' -r
complete -c depot -n "__fish_depot_using_subcommand go; and __fish_seen_subcommand_from zip" -l version -d 'The version, canonical semver with a v, e.g. v1.2.3 or v2.0.0-rc.1' -r
complete -c depot -n "__fish_depot_using_subcommand go; and __fish_seen_subcommand_from zip" -s o -l output -d 'Where to write the zip' -r -F
complete -c depot -n "__fish_depot_using_subcommand go; and __fish_seen_subcommand_from zip" -l db -d 'The database file' -r -F
complete -c depot -n "__fish_depot_using_subcommand go; and __fish_seen_subcommand_from zip" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c depot -n "__fish_depot_using_subcommand go; and __fish_seen_subcommand_from help" -f -a "zip" -d 'Build a module zip from a source directory, ready to upload'
complete -c depot -n "__fish_depot_using_subcommand go; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c depot -n "__fish_depot_using_subcommand quota; and not __fish_seen_subcommand_from set show help" -l db -d 'The database file' -r -F
complete -c depot -n "__fish_depot_using_subcommand quota; and not __fish_seen_subcommand_from set show help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c depot -n "__fish_depot_using_subcommand quota; and not __fish_seen_subcommand_from set show help" -s V -l version -d 'Print version'
complete -c depot -n "__fish_depot_using_subcommand quota; and not __fish_seen_subcommand_from set show help" -f -a "set" -d 'Set an owner\'s (user\'s or organization\'s) limits; an omitted limit is unlimited'
complete -c depot -n "__fish_depot_using_subcommand quota; and not __fish_seen_subcommand_from set show help" -f -a "show" -d 'Print usage and limits: `OWNER<TAB>BYTES<TAB>MAX_BYTES<TAB>VERSIONS<TAB>MAX_VERSIONS`, a limit being a number or `unlimited`; one owner, or every owner'
complete -c depot -n "__fish_depot_using_subcommand quota; and not __fish_seen_subcommand_from set show help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c depot -n "__fish_depot_using_subcommand quota; and __fish_seen_subcommand_from set" -l max-bytes -d 'Most bytes of files the owner may hold (each file counted, even when its content is shared with another): bytes, or with a unit (10G, 500MiB)' -r
complete -c depot -n "__fish_depot_using_subcommand quota; and __fish_seen_subcommand_from set" -l max-versions -d 'Most versions the owner may hold, over all its packages' -r
complete -c depot -n "__fish_depot_using_subcommand quota; and __fish_seen_subcommand_from set" -l db -d 'The database file' -r -F
complete -c depot -n "__fish_depot_using_subcommand quota; and __fish_seen_subcommand_from set" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c depot -n "__fish_depot_using_subcommand quota; and __fish_seen_subcommand_from set" -s V -l version -d 'Print version'
complete -c depot -n "__fish_depot_using_subcommand quota; and __fish_seen_subcommand_from show" -l db -d 'The database file' -r -F
complete -c depot -n "__fish_depot_using_subcommand quota; and __fish_seen_subcommand_from show" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c depot -n "__fish_depot_using_subcommand quota; and __fish_seen_subcommand_from show" -s V -l version -d 'Print version'
complete -c depot -n "__fish_depot_using_subcommand quota; and __fish_seen_subcommand_from help" -f -a "set" -d 'Set an owner\'s (user\'s or organization\'s) limits; an omitted limit is unlimited'
complete -c depot -n "__fish_depot_using_subcommand quota; and __fish_seen_subcommand_from help" -f -a "show" -d 'Print usage and limits: `OWNER<TAB>BYTES<TAB>MAX_BYTES<TAB>VERSIONS<TAB>MAX_VERSIONS`, a limit being a number or `unlimited`; one owner, or every owner'
complete -c depot -n "__fish_depot_using_subcommand quota; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c depot -n "__fish_depot_using_subcommand blobs; and not __fish_seen_subcommand_from migrate help" -l db -d 'The database file' -r -F
complete -c depot -n "__fish_depot_using_subcommand blobs; and not __fish_seen_subcommand_from migrate help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c depot -n "__fish_depot_using_subcommand blobs; and not __fish_seen_subcommand_from migrate help" -s V -l version -d 'Print version'
complete -c depot -n "__fish_depot_using_subcommand blobs; and not __fish_seen_subcommand_from migrate help" -f -a "migrate" -d 'Move file content to the object store (`--to s3`, content larger than the inline limit, 64 KiB) or back into the database file (`--to local`)'
complete -c depot -n "__fish_depot_using_subcommand blobs; and not __fish_seen_subcommand_from migrate help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c depot -n "__fish_depot_using_subcommand blobs; and __fish_seen_subcommand_from migrate" -l to -d 'Where the content goes' -r -f -a "local\t''
s3\t''"
complete -c depot -n "__fish_depot_using_subcommand blobs; and __fish_seen_subcommand_from migrate" -l s3-endpoint -d 'The object store\'s URL: scheme, host and port' -r
complete -c depot -n "__fish_depot_using_subcommand blobs; and __fish_seen_subcommand_from migrate" -l s3-bucket -d 'The bucket holding depot\'s objects' -r
complete -c depot -n "__fish_depot_using_subcommand blobs; and __fish_seen_subcommand_from migrate" -l s3-region -d 'The store\'s region' -r
complete -c depot -n "__fish_depot_using_subcommand blobs; and __fish_seen_subcommand_from migrate" -l s3-access-key-id -d 'Environment only (the command line refuses it)' -r
complete -c depot -n "__fish_depot_using_subcommand blobs; and __fish_seen_subcommand_from migrate" -l s3-secret-access-key -d 'Environment only (the command line refuses it)' -r
complete -c depot -n "__fish_depot_using_subcommand blobs; and __fish_seen_subcommand_from migrate" -l db -d 'The database file' -r -F
complete -c depot -n "__fish_depot_using_subcommand blobs; and __fish_seen_subcommand_from migrate" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c depot -n "__fish_depot_using_subcommand blobs; and __fish_seen_subcommand_from migrate" -s V -l version -d 'Print version'
complete -c depot -n "__fish_depot_using_subcommand blobs; and __fish_seen_subcommand_from help" -f -a "migrate" -d 'Move file content to the object store (`--to s3`, content larger than the inline limit, 64 KiB) or back into the database file (`--to local`)'
complete -c depot -n "__fish_depot_using_subcommand blobs; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c depot -n "__fish_depot_using_subcommand rules; and not __fish_seen_subcommand_from add list delete preview apply help" -l db -d 'The database file' -r -F
complete -c depot -n "__fish_depot_using_subcommand rules; and not __fish_seen_subcommand_from add list delete preview apply help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c depot -n "__fish_depot_using_subcommand rules; and not __fish_seen_subcommand_from add list delete preview apply help" -s V -l version -d 'Print version'
complete -c depot -n "__fish_depot_using_subcommand rules; and not __fish_seen_subcommand_from add list delete preview apply help" -f -a "add" -d 'Add a cleanup rule (enabled) and print its id'
complete -c depot -n "__fish_depot_using_subcommand rules; and not __fish_seen_subcommand_from add list delete preview apply help" -f -a "list" -d 'List rules: ID, TYPE, enabled|disabled, KEEP_COUNT, KEEP_PATTERN, REMOVE_DAYS, REMOVE_PATTERN, full-name|version (tab-separated)'
complete -c depot -n "__fish_depot_using_subcommand rules; and not __fish_seen_subcommand_from add list delete preview apply help" -f -a "delete" -d 'Delete a rule'
complete -c depot -n "__fish_depot_using_subcommand rules; and not __fish_seen_subcommand_from add list delete preview apply help" -f -a "preview" -d 'Print the versions a rule (or every enabled rule) would remove now; removes nothing'
complete -c depot -n "__fish_depot_using_subcommand rules; and not __fish_seen_subcommand_from add list delete preview apply help" -f -a "apply" -d 'Remove now what `preview` prints, and print it'
complete -c depot -n "__fish_depot_using_subcommand rules; and not __fish_seen_subcommand_from add list delete preview apply help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c depot -n "__fish_depot_using_subcommand rules; and __fish_seen_subcommand_from add" -l type -d 'The package type it applies to' -r -f -a "generic\t''
go\t''"
complete -c depot -n "__fish_depot_using_subcommand rules; and __fish_seen_subcommand_from add" -l keep-count -d 'Always keep this many newest versions of each package' -r
complete -c depot -n "__fish_depot_using_subcommand rules; and __fish_seen_subcommand_from add" -l keep-pattern -d 'Always keep versions matching this regular expression' -r
complete -c depot -n "__fish_depot_using_subcommand rules; and __fish_seen_subcommand_from add" -l remove-days -d 'Remove only versions at least N days old (0: any age)' -r
complete -c depot -n "__fish_depot_using_subcommand rules; and __fish_seen_subcommand_from add" -l remove-pattern -d 'Remove only versions matching this regular expression (none: every version)' -r
complete -c depot -n "__fish_depot_using_subcommand rules; and __fish_seen_subcommand_from add" -l db -d 'The database file' -r -F
complete -c depot -n "__fish_depot_using_subcommand rules; and __fish_seen_subcommand_from add" -l full-name -d 'Match the patterns against PACKAGE/VERSION instead of the version alone'
complete -c depot -n "__fish_depot_using_subcommand rules; and __fish_seen_subcommand_from add" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c depot -n "__fish_depot_using_subcommand rules; and __fish_seen_subcommand_from add" -s V -l version -d 'Print version'
complete -c depot -n "__fish_depot_using_subcommand rules; and __fish_seen_subcommand_from list" -l db -d 'The database file' -r -F
complete -c depot -n "__fish_depot_using_subcommand rules; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c depot -n "__fish_depot_using_subcommand rules; and __fish_seen_subcommand_from list" -s V -l version -d 'Print version'
complete -c depot -n "__fish_depot_using_subcommand rules; and __fish_seen_subcommand_from delete" -l db -d 'The database file' -r -F
complete -c depot -n "__fish_depot_using_subcommand rules; and __fish_seen_subcommand_from delete" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c depot -n "__fish_depot_using_subcommand rules; and __fish_seen_subcommand_from delete" -s V -l version -d 'Print version'
complete -c depot -n "__fish_depot_using_subcommand rules; and __fish_seen_subcommand_from preview" -l db -d 'The database file' -r -F
complete -c depot -n "__fish_depot_using_subcommand rules; and __fish_seen_subcommand_from preview" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c depot -n "__fish_depot_using_subcommand rules; and __fish_seen_subcommand_from preview" -s V -l version -d 'Print version'
complete -c depot -n "__fish_depot_using_subcommand rules; and __fish_seen_subcommand_from apply" -l db -d 'The database file' -r -F
complete -c depot -n "__fish_depot_using_subcommand rules; and __fish_seen_subcommand_from apply" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c depot -n "__fish_depot_using_subcommand rules; and __fish_seen_subcommand_from apply" -s V -l version -d 'Print version'
complete -c depot -n "__fish_depot_using_subcommand rules; and __fish_seen_subcommand_from help" -f -a "add" -d 'Add a cleanup rule (enabled) and print its id'
complete -c depot -n "__fish_depot_using_subcommand rules; and __fish_seen_subcommand_from help" -f -a "list" -d 'List rules: ID, TYPE, enabled|disabled, KEEP_COUNT, KEEP_PATTERN, REMOVE_DAYS, REMOVE_PATTERN, full-name|version (tab-separated)'
complete -c depot -n "__fish_depot_using_subcommand rules; and __fish_seen_subcommand_from help" -f -a "delete" -d 'Delete a rule'
complete -c depot -n "__fish_depot_using_subcommand rules; and __fish_seen_subcommand_from help" -f -a "preview" -d 'Print the versions a rule (or every enabled rule) would remove now; removes nothing'
complete -c depot -n "__fish_depot_using_subcommand rules; and __fish_seen_subcommand_from help" -f -a "apply" -d 'Remove now what `preview` prints, and print it'
complete -c depot -n "__fish_depot_using_subcommand rules; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c depot -n "__fish_depot_using_subcommand generate" -l db -d 'The database file' -r -F
complete -c depot -n "__fish_depot_using_subcommand generate" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c depot -n "__fish_depot_using_subcommand generate" -s V -l version -d 'Print version'
complete -c depot -n "__fish_depot_using_subcommand help; and not __fish_seen_subcommand_from serve user org token verify backup compact go quota blobs rules generate help" -f -a "serve" -d 'Run the registry server'
complete -c depot -n "__fish_depot_using_subcommand help; and not __fish_seen_subcommand_from serve user org token verify backup compact go quota blobs rules generate help" -f -a "user" -d 'Manage users'
complete -c depot -n "__fish_depot_using_subcommand help; and not __fish_seen_subcommand_from serve user org token verify backup compact go quota blobs rules generate help" -f -a "org" -d 'Manage organizations and their members'
complete -c depot -n "__fish_depot_using_subcommand help; and not __fish_seen_subcommand_from serve user org token verify backup compact go quota blobs rules generate help" -f -a "token" -d 'Manage access tokens'
complete -c depot -n "__fish_depot_using_subcommand help; and not __fish_seen_subcommand_from serve user org token verify backup compact go quota blobs rules generate help" -f -a "verify" -d 'Re-read every stored byte and check every hash, reference and count'
complete -c depot -n "__fish_depot_using_subcommand help; and not __fish_seen_subcommand_from serve user org token verify backup compact go quota blobs rules generate help" -f -a "backup" -d 'Write a consistent copy of the database to FILE'
complete -c depot -n "__fish_depot_using_subcommand help; and not __fish_seen_subcommand_from serve user org token verify backup compact go quota blobs rules generate help" -f -a "compact" -d 'Return the space freed by deletions to the file system'
complete -c depot -n "__fish_depot_using_subcommand help; and not __fish_seen_subcommand_from serve user org token verify backup compact go quota blobs rules generate help" -f -a "go" -d 'Go module tools'
complete -c depot -n "__fish_depot_using_subcommand help; and not __fish_seen_subcommand_from serve user org token verify backup compact go quota blobs rules generate help" -f -a "quota" -d 'Per-owner limits (storage bytes, number of versions) and usage'
complete -c depot -n "__fish_depot_using_subcommand help; and not __fish_seen_subcommand_from serve user org token verify backup compact go quota blobs rules generate help" -f -a "blobs" -d 'Where file content lives: the database file or an S3-compatible object store'
complete -c depot -n "__fish_depot_using_subcommand help; and not __fish_seen_subcommand_from serve user org token verify backup compact go quota blobs rules generate help" -f -a "rules" -d 'Cleanup rules: which versions of an owner\'s packages are removed, and when'
complete -c depot -n "__fish_depot_using_subcommand help; and not __fish_seen_subcommand_from serve user org token verify backup compact go quota blobs rules generate help" -f -a "generate" -d 'Write the man page or a shell completion script to standard output'
complete -c depot -n "__fish_depot_using_subcommand help; and not __fish_seen_subcommand_from serve user org token verify backup compact go quota blobs rules generate help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c depot -n "__fish_depot_using_subcommand help; and __fish_seen_subcommand_from user" -f -a "add" -d 'Create a user; the password is read from the first line of standard input'
complete -c depot -n "__fish_depot_using_subcommand help; and __fish_seen_subcommand_from user" -f -a "list" -d 'List users: NAME, admin|user, public|private, BYTES, VERSIONS (tab-separated)'
complete -c depot -n "__fish_depot_using_subcommand help; and __fish_seen_subcommand_from user" -f -a "delete" -d 'Delete a user and their tokens (refused while they own packages)'
complete -c depot -n "__fish_depot_using_subcommand help; and __fish_seen_subcommand_from user" -f -a "passwd" -d 'Set a user\'s password from the first line of standard input'
complete -c depot -n "__fish_depot_using_subcommand help; and __fish_seen_subcommand_from org" -f -a "add" -d 'Create an organization'
complete -c depot -n "__fish_depot_using_subcommand help; and __fish_seen_subcommand_from org" -f -a "member" -d 'Manage organization members'
complete -c depot -n "__fish_depot_using_subcommand help; and __fish_seen_subcommand_from token" -f -a "create" -d 'Create a token for a user and print it (shown only this once)'
complete -c depot -n "__fish_depot_using_subcommand help; and __fish_seen_subcommand_from token" -f -a "list" -d 'List a user\'s tokens: LABEL, read|write, CREATED, EXPIRES|never (tab-separated; times in RFC 3339; never the secret)'
complete -c depot -n "__fish_depot_using_subcommand help; and __fish_seen_subcommand_from token" -f -a "revoke" -d 'Revoke a user\'s token by label'
complete -c depot -n "__fish_depot_using_subcommand help; and __fish_seen_subcommand_from go" -f -a "zip" -d 'Build a module zip from a source directory, ready to upload'
complete -c depot -n "__fish_depot_using_subcommand help; and __fish_seen_subcommand_from quota" -f -a "set" -d 'Set an owner\'s (user\'s or organization\'s) limits; an omitted limit is unlimited'
complete -c depot -n "__fish_depot_using_subcommand help; and __fish_seen_subcommand_from quota" -f -a "show" -d 'Print usage and limits: `OWNER<TAB>BYTES<TAB>MAX_BYTES<TAB>VERSIONS<TAB>MAX_VERSIONS`, a limit being a number or `unlimited`; one owner, or every owner'
complete -c depot -n "__fish_depot_using_subcommand help; and __fish_seen_subcommand_from blobs" -f -a "migrate" -d 'Move file content to the object store (`--to s3`, content larger than the inline limit, 64 KiB) or back into the database file (`--to local`)'
complete -c depot -n "__fish_depot_using_subcommand help; and __fish_seen_subcommand_from rules" -f -a "add" -d 'Add a cleanup rule (enabled) and print its id'
complete -c depot -n "__fish_depot_using_subcommand help; and __fish_seen_subcommand_from rules" -f -a "list" -d 'List rules: ID, TYPE, enabled|disabled, KEEP_COUNT, KEEP_PATTERN, REMOVE_DAYS, REMOVE_PATTERN, full-name|version (tab-separated)'
complete -c depot -n "__fish_depot_using_subcommand help; and __fish_seen_subcommand_from rules" -f -a "delete" -d 'Delete a rule'
complete -c depot -n "__fish_depot_using_subcommand help; and __fish_seen_subcommand_from rules" -f -a "preview" -d 'Print the versions a rule (or every enabled rule) would remove now; removes nothing'
complete -c depot -n "__fish_depot_using_subcommand help; and __fish_seen_subcommand_from rules" -f -a "apply" -d 'Remove now what `preview` prints, and print it'

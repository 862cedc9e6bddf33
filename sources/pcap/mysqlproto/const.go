package mysqlproto

// Command bytes of the client/server protocol (the first byte of a client
// packet with sequence id 0 in the command phase).
const (
	ComSleep            = 0x00
	ComQuit             = 0x01
	ComInitDB           = 0x02
	ComQuery            = 0x03
	ComFieldList        = 0x04
	ComCreateDB         = 0x05
	ComDropDB           = 0x06
	ComRefresh          = 0x07
	ComShutdown         = 0x08
	ComStatistics       = 0x09
	ComProcessInfo      = 0x0a
	ComConnect          = 0x0b
	ComProcessKill      = 0x0c
	ComDebug            = 0x0d
	ComPing             = 0x0e
	ComTime             = 0x0f
	ComDelayedInsert    = 0x10
	ComChangeUser       = 0x11
	ComBinlogDump       = 0x12
	ComTableDump        = 0x13
	ComConnectOut       = 0x14
	ComRegisterSlave    = 0x15
	ComStmtPrepare      = 0x16
	ComStmtExecute      = 0x17
	ComStmtSendLongData = 0x18
	ComStmtClose        = 0x19
	ComStmtReset        = 0x1a
	ComSetOption        = 0x1b
	ComStmtFetch        = 0x1c
	ComDaemon           = 0x1d
	ComBinlogDumpGTID   = 0x1e
	ComResetConnection  = 0x1f
	ComClone            = 0x20 // MySQL 8.0.17+
	ComSubscribeGroup   = 0x21 // MySQL 8.0.23+ (replication)
	ComMulti            = 0xfe // MariaDB 10.2 (unused by current connectors)
	ComStmtBulkExecute  = 0xfa // MariaDB 10.2+
)

// commandNames names the commands for Stats and documentation.
var commandNames = [256]string{
	ComSleep: "sleep", ComQuit: "quit", ComInitDB: "init_db", ComQuery: "query",
	ComFieldList: "field_list", ComCreateDB: "create_db", ComDropDB: "drop_db",
	ComRefresh: "refresh", ComShutdown: "shutdown", ComStatistics: "statistics",
	ComProcessInfo: "process_info", ComConnect: "connect", ComProcessKill: "process_kill",
	ComDebug: "debug", ComPing: "ping", ComTime: "time", ComDelayedInsert: "delayed_insert",
	ComChangeUser: "change_user", ComBinlogDump: "binlog_dump", ComTableDump: "table_dump",
	ComConnectOut: "connect_out", ComRegisterSlave: "register_slave",
	ComStmtPrepare: "stmt_prepare", ComStmtExecute: "stmt_execute",
	ComStmtSendLongData: "stmt_send_long_data", ComStmtClose: "stmt_close",
	ComStmtReset: "stmt_reset", ComSetOption: "set_option", ComStmtFetch: "stmt_fetch",
	ComDaemon: "daemon", ComBinlogDumpGTID: "binlog_dump_gtid",
	ComResetConnection: "reset_connection", ComClone: "clone",
	ComSubscribeGroup: "subscribe_group_replication_stream",
	ComMulti:          "multi", ComStmtBulkExecute: "stmt_bulk_execute",
}

// CommandName returns the lower-case name of a command byte ("query",
// "stmt_execute", …) or "unknown_0xNN".
func CommandName(c byte) string {
	if n := commandNames[c]; n != "" {
		return n
	}
	const hex = "0123456789abcdef"
	return "unknown_0x" + string([]byte{hex[c>>4], hex[c&15]})
}

// Capability flags (CLIENT_*). Bits 32 and up are MariaDB's extended
// capabilities, sent in otherwise reserved bytes when the server does not
// set CLIENT_MYSQL (bit 0).
const (
	capLongPassword     = 1 << 0 // CLIENT_MYSQL in MariaDB
	capConnectWithDB    = 1 << 3
	capCompress         = 1 << 5
	capProtocol41       = 1 << 9
	capSSL              = 1 << 11
	capSecureConnection = 1 << 15
	capMultiStatements  = 1 << 16
	capMultiResults     = 1 << 17
	capPluginAuth       = 1 << 19
	capConnectAttrs     = 1 << 20
	capPluginAuthLenenc = 1 << 21
	capSessionTrack     = 1 << 23
	capDeprecateEOF     = 1 << 24
	capOptionalMetadata = 1 << 25 // MySQL 8.0
	capZstd             = 1 << 26 // MySQL 8.0.18
	capQueryAttributes  = 1 << 27 // MySQL 8.0.23

	mariaProgress      = 1 << 32
	mariaBulk          = 1 << 34
	mariaCacheMetadata = 1 << 36
)

// Server status flags of OK and EOF packets.
const (
	statusMoreResults   = 0x0008
	statusCursorExists  = 0x0040
	statusStateChanged  = 0x4000
	sessionTrackSchema  = 1
	progressReportError = 0xffff // MariaDB progress report (an ERR packet that is not an error)
)

// Binary protocol column types (MYSQL_TYPE_*).
const (
	typeDecimal    = 0x00
	typeTiny       = 0x01
	typeShort      = 0x02
	typeLong       = 0x03
	typeFloat      = 0x04
	typeDouble     = 0x05
	typeNull       = 0x06
	typeTimestamp  = 0x07
	typeLongLong   = 0x08
	typeInt24      = 0x09
	typeDate       = 0x0a
	typeTime       = 0x0b
	typeDateTime   = 0x0c
	typeYear       = 0x0d
	typeNewDate    = 0x0e
	typeVarchar    = 0x0f
	typeBit        = 0x10
	typeTimestamp2 = 0x11
	typeDateTime2  = 0x12
	typeTime2      = 0x13
	typeJSON       = 0xf5
	typeNewDecimal = 0xf6
	typeEnum       = 0xf7
	typeSet        = 0xf8
	typeTinyBlob   = 0xf9
	typeMediumBlob = 0xfa
	typeLongBlob   = 0xfb
	typeBlob       = 0xfc
	typeVarString  = 0xfd
	typeString     = 0xfe
	typeGeometry   = 0xff
)

// maxPacket is the payload length that announces a continuation packet.
const maxPacket = 0xffffff

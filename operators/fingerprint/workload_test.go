package fingerprint

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// sysbenchStatements returns n statements of the oltp_read_write mix: point
// selects, the four range selects, index and non-index updates, delete,
// insert, BEGIN/COMMIT, in sysbench's proportions.
func sysbenchStatements(seed uint64, n int) [][]byte {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	cstr := func(groups int) string {
		var b strings.Builder
		for g := 0; g < groups; g++ {
			if g > 0 {
				b.WriteByte('-')
			}
			fmt.Fprintf(&b, "%011d", r.Uint64N(1e11))
		}
		return b.String()
	}
	out := make([][]byte, 0, n)
	for len(out) < n {
		table := r.IntN(10) + 1
		id := r.IntN(1000000) + 1
		var s string
		switch k := r.IntN(20); {
		case k < 10:
			s = fmt.Sprintf("SELECT c FROM sbtest%d WHERE id=%d", table, id)
		case k == 10:
			s = fmt.Sprintf("SELECT c FROM sbtest%d WHERE id BETWEEN %d AND %d", table, id, id+99)
		case k == 11:
			s = fmt.Sprintf("SELECT SUM(k) FROM sbtest%d WHERE id BETWEEN %d AND %d", table, id, id+99)
		case k == 12:
			s = fmt.Sprintf("SELECT c FROM sbtest%d WHERE id BETWEEN %d AND %d ORDER BY c", table, id, id+99)
		case k == 13:
			s = fmt.Sprintf("SELECT DISTINCT c FROM sbtest%d WHERE id BETWEEN %d AND %d ORDER BY c", table, id, id+99)
		case k == 14:
			s = fmt.Sprintf("UPDATE sbtest%d SET k=k+1 WHERE id=%d", table, id)
		case k == 15:
			s = fmt.Sprintf("UPDATE sbtest%d SET c='%s' WHERE id=%d", table, cstr(10), id)
		case k == 16:
			s = fmt.Sprintf("DELETE FROM sbtest%d WHERE id=%d", table, id)
		case k == 17:
			s = fmt.Sprintf("INSERT INTO sbtest%d (id, k, c, pad) VALUES (%d, %d, '%s', '%s')", table, id, r.IntN(1000000), cstr(10), cstr(5))
		case k == 18:
			s = "BEGIN"
		default:
			s = "COMMIT"
		}
		out = append(out, []byte(s))
	}
	return out
}

// longStatements returns n generated application statements averaging
// about 240 bytes: joins, IN lists, strings, multi-row inserts, comments.
func longStatements(seed uint64, n int) [][]byte {
	r := rand.New(rand.NewPCG(seed, 0x1049))
	word := func() string {
		const letters = "abcdefghijklmnopqrstuvwxyz"
		b := make([]byte, 4+r.IntN(12))
		for i := range b {
			b[i] = letters[r.IntN(len(letters))]
		}
		return string(b)
	}
	inList := func() string {
		parts := make([]string, 2+r.IntN(22))
		for i := range parts {
			parts[i] = fmt.Sprint(r.IntN(100000))
		}
		return strings.Join(parts, ", ")
	}
	out := make([][]byte, 0, n)
	for len(out) < n {
		var s string
		switch r.IntN(6) {
		case 0:
			s = fmt.Sprintf("SELECT o.id, o.user_id, o.amount, u.name, u.email FROM orders o JOIN users u ON u.id = o.user_id WHERE o.status IN (%s) AND o.created_at >= '2024-%02d-%02d 00:00:00' ORDER BY o.created_at DESC LIMIT %d",
				inList(), 1+r.IntN(12), 1+r.IntN(28), 10*(1+r.IntN(10)))
		case 1:
			s = fmt.Sprintf("/* app=checkout host=web-%d */ UPDATE `inventory` SET `qty` = `qty` - %d, `updated_at` = NOW() WHERE `sku` = '%s-%d' AND `warehouse_id` IN (%s) AND `qty` >= %d",
				r.IntN(50), 1+r.IntN(5), word(), r.IntN(99999), inList(), r.IntN(10))
		case 2:
			rows := make([]string, 1+r.IntN(4))
			for i := range rows {
				rows[i] = fmt.Sprintf("(%d, '%s', '%s@example.com', %d.%02d, NULL)", r.IntN(1e6), word(), word(), r.IntN(1000), r.IntN(100))
			}
			s = "INSERT INTO customer_events (customer_id, kind, contact, score, deleted_at) VALUES " + strings.Join(rows, ", ")
		case 3:
			s = fmt.Sprintf("SELECT p.category, COUNT(*) AS n, SUM(li.price * li.quantity) AS revenue FROM line_items li INNER JOIN products p ON p.id = li.product_id WHERE li.order_id IN (%s) AND p.name LIKE '%%%s%%' GROUP BY p.category HAVING n > %d",
				inList(), word(), r.IntN(5))
		case 4:
			s = fmt.Sprintf("select s.id, s.token, s.expires_at from sessions s left join users u on u.id = s.user_id where s.token = '%s%s%s' and u.deleted_at is null and s.expires_at > %d -- keepalive",
				word(), word(), word(), 1700000000+r.IntN(1e7))
		default:
			s = fmt.Sprintf("DELETE FROM audit_log WHERE tenant_id = %d AND created_at < DATE_SUB(NOW(), INTERVAL %d DAY) AND action NOT IN ('login', 'logout', '%s') LIMIT %d",
				r.IntN(5000), 30+r.IntN(300), word(), 1000*(1+r.IntN(9)))
		}
		out = append(out, []byte(s))
	}
	return out
}

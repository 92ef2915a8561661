# report.awk: turns midden-compare's minheap.csv and runs.csv into the
# table, the geometric-mean summary, or a gnuplot script for one benchmark.
#
#   awk -f report.awk -v what=table|summary|plotdata \
#       -v benches="..." -v plans="..." -v baselines="..." -v multiples="..." \
#       [-v resolution=PCT -v repeats=N] [-v bench=NAME -v outdir=DIR] \
#       minheap.csv runs.csv
#
# POSIX awk only (runs with mawk and gawk).

BEGIN {
    FS = ","
    nb = split(benches, B, " ")
    np = split(plans, P, " ")
    nv = split(baselines, V, " ")
    nm = split(multiples, M, " ")
}

FNR == 1 { file++; next }

file == 1 {
    minheap[$1, $2] = $3
    mhstatus[$1, $2] = $6
    next
}

file == 2 {
    key = $1 SUBSEP $2 SUBSEP $4
    args[$1] = $18
    if ($17 == "ok") {
        n = ++count[key]
        tm[key, n] = $9 + 0
        rss[key, n] = $10 + 0
        coll[key, n] = $11 + 0
        maxp[key, n] = $14 + 0
        flt[key, n] = $19 + 0
    } else {
        nfail[key]++
        if (!(key in whyfail)) whyfail[key] = $17
    }
    seen[key] = 1
}

# Sort values a[key, 1..n] into s[1..n]; returns n.
function sorted(a, key, n,    i, j, v) {
    for (i = 1; i <= n; i++) s[i] = a[key, i]
    for (i = 2; i <= n; i++) {
        v = s[i]; j = i - 1
        while (j > 0 && s[j] > v) { s[j + 1] = s[j]; j-- }
        s[j + 1] = v
    }
    return n
}
function median(a, key, n) {
    sorted(a, key, n)
    return (n % 2) ? s[(n + 1) / 2] : (s[n / 2] + s[n / 2 + 1]) / 2
}
function human(b) {
    if (b >= 1073741824) return sprintf("%.2fG", b / 1073741824)
    if (b >= 1048576) return sprintf("%.1fM", b / 1048576)
    return sprintf("%.0fK", b / 1024)
}
function secs(t) { return (t >= 100) ? sprintf("%.1f", t) : sprintf("%.3f", t) }

# Median time of a cell, or -1 if it has no successful run.
function cell_time(key) { return (key in count) ? median(tm, key, count[key]) : -1 }

# "median (min-max) RSS" for a cell.
function time_cell(key,    n, med, lo, hi, txt) {
    if (!(key in seen)) return "-"
    n = count[key] + 0
    if (n == 0) return "FAIL(" whyfail[key] ")"
    med = median(tm, key, n); lo = s[1]; hi = s[n]
    txt = secs(med) " (" secs(lo) "-" secs(hi) ") " sprintf("%.0fM %.0fkf", median(rss, key, n) / 1024, median(flt, key, n) / 1000)
    if (nfail[key] > 0) txt = txt " *" nfail[key] "fail"
    return txt
}
function gc_cell(key,    n) {
    if (!(key in seen)) return "-"
    n = count[key] + 0
    if (n == 0) return "FAIL(" whyfail[key] ")"
    return sprintf("%.0f gc, max %.1fms", median(coll, key, n), median(maxp, key, n))
}

# Table rows are kept in R[r, c] (c = 1..ncol) and printed aligned.
function row_reset() { nrow = 0 }
function row_add(c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12,    c) {
    nrow++
    R[nrow, 1] = c1; R[nrow, 2] = c2; R[nrow, 3] = c3; R[nrow, 4] = c4
    R[nrow, 5] = c5; R[nrow, 6] = c6; R[nrow, 7] = c7; R[nrow, 8] = c8
    R[nrow, 9] = c9; R[nrow, 10] = c10; R[nrow, 11] = c11; R[nrow, 12] = c12
}
function rows_print(ncol,    r, c, w, line) {
    for (c = 1; c <= ncol; c++) {
        w[c] = 0
        for (r = 1; r <= nrow; r++) if (length(R[r, c]) > w[c]) w[c] = length(R[r, c])
    }
    for (r = 1; r <= nrow; r++) {
        line = ""
        for (c = 1; c <= ncol; c++) line = line sprintf("%-" (w[c] + 2) "s", R[r, c])
        sub(/ +$/, "", line)
        print line
    }
}

function table(    b, p, v, m, i, j, key, cells, hdr) {
    for (i = 1; i <= nb; i++) {
        b = B[i]
        print "== " b " " args[b] " =="
        print "time: median s (min-max) over successful runs, then median max RSS and minor page faults (kf = thousands); heap = multiple of the plan's min heap, default = default options (no heap size)"
        row_reset()
        hdr[1] = "plan"; hdr[2] = "min heap"
        for (j = 1; j <= nm; j++) hdr[j + 2] = (M[j] == "default") ? "default" : M[j] "x"
        row_add(hdr[1], hdr[2], hdr[3], hdr[4], hdr[5], hdr[6], hdr[7], hdr[8], hdr[9], hdr[10], hdr[11], hdr[12])
        for (j = 1; j <= np; j++) {
            p = P[j]
            if (mhstatus[b, p] == "ok") mh = human(minheap[b, p])
            else if (mhstatus[b, p] == "failed") mh = "not found"
            else mh = "-"
            for (k = 1; k <= nm; k++) cells[k] = time_cell(b SUBSEP p SUBSEP M[k])
            row_add(p, mh, cells[1], cells[2], cells[3], cells[4], cells[5], cells[6], cells[7], cells[8], cells[9], cells[10])
        }
        if (nv > 0) {
            row_add("", "", "", "", "", "", "", "", "", "", "", "")
            row_add("baseline", "heap", "natural heap size", "", "", "", "", "", "", "", "", "")
            for (j = 1; j <= nv; j++) {
                v = V[j]
                row_add(v, "-", time_cell(b SUBSEP v SUBSEP "natural"), "", "", "", "", "", "", "", "", "")
            }
        }
        rows_print(nm + 2)
        print ""
        print "collections and max pause (medians):"
        row_reset()
        row_add(hdr[1], hdr[3], hdr[4], hdr[5], hdr[6], hdr[7], hdr[8], hdr[9], hdr[10], hdr[11], hdr[12], "")
        for (j = 1; j <= np; j++) {
            p = P[j]
            for (k = 1; k <= nm; k++) cells[k] = gc_cell(b SUBSEP p SUBSEP M[k])
            row_add(p, cells[1], cells[2], cells[3], cells[4], cells[5], cells[6], cells[7], cells[8], cells[9], cells[10], "")
        }
        for (j = 1; j <= nv; j++) {
            v = V[j]
            row_add(v, gc_cell(b SUBSEP v SUBSEP "natural"), "", "", "", "", "", "", "", "", "", "")
        }
        rows_print(nm + 1)
        print ""
    }
    print "min heap: smallest MDN_HEAP at which the benchmark exits 0, by bisection to " resolution "% (the value is at most " resolution "% above the true minimum)"
    print ""
}

# Best (smallest) median time among plans for benchmark b at multiple m; -1 if none.
function best_plan_time(b, m,    j, t, best) {
    best = -1
    for (j = 1; j <= np; j++) {
        t = cell_time(b SUBSEP P[j] SUBSEP m)
        if (t > 0 && (best < 0 || t < best)) best = t
    }
    return best
}

function summary(    j, k, i, b, p, t, best, sum, n, cells, name, mh, mhbest, q) {
    print "== summary: geometric mean over benchmarks of median time relative to the best plan =="
    print "(1.00 = the fastest plan of that benchmark at that multiple; baselines run at their natural heap size)"
    row_reset()
    cells[1] = "plan"
    for (k = 1; k <= nm; k++) cells[k + 1] = (M[k] == "default") ? "default" : M[k] "x"
    cells[nm + 2] = "min heap"
    cells[nm + 3] = "benchmarks"
    row_add(cells[1], cells[2], cells[3], cells[4], cells[5], cells[6], cells[7], cells[8], cells[9], cells[10], cells[11], cells[12])
    for (j = 1; j <= np + nv; j++) {
        if (j <= np) { name = P[j]; q = "" } else { name = V[j - np]; q = "natural" }
        for (k = 1; k <= nm; k++) {
            sum = 0; n = 0
            for (i = 1; i <= nb; i++) {
                b = B[i]
                best = best_plan_time(b, M[k])
                t = cell_time(b SUBSEP name SUBSEP (q == "" ? M[k] : q))
                if (best > 0 && t > 0) { sum += log(t / best); n++ }
            }
            cells[k + 1] = (n > 0) ? sprintf("%.2f", exp(sum / n)) : "-"
            if (n > 0 && n < nb) cells[k + 1] = cells[k + 1] " (" n "/" nb ")"
        }
        # Min heap relative to the smallest min heap among plans.
        sum = 0; n = 0
        if (q == "") for (i = 1; i <= nb; i++) {
            b = B[i]
            if (mhstatus[b, name] != "ok") continue
            mhbest = -1
            for (p = 1; p <= np; p++)
                if (mhstatus[b, P[p]] == "ok" && (mhbest < 0 || minheap[b, P[p]] < mhbest)) mhbest = minheap[b, P[p]]
            sum += log(minheap[b, name] / mhbest); n++
        }
        cells[nm + 2] = (n > 0) ? sprintf("%.2f", exp(sum / n)) : "-"
        n = 0
        for (i = 1; i <= nb; i++) {
            for (k = 1; k <= nm; k++) if (cell_time(B[i] SUBSEP name SUBSEP (q == "" ? M[k] : q)) > 0) { n++; break }
        }
        cells[nm + 3] = n "/" nb
        row_add(name, cells[2], cells[3], cells[4], cells[5], cells[6], cells[7], cells[8], cells[9], cells[10], cells[11], cells[12])
    }
    rows_print(nm + 3)
    print "(min heap: geometric mean of the plan's min heap relative to the smallest among plans)"
}

function q(str) { gsub(/"/, "'", str); return "\"" str "\"" }

function plotdata(    j, k, p, key, n, med, plot, sep, lo, hi, t, xmin, xmax, ndata, nn) {
    # Only the numeric multiples lie on this chart's axis.
    nn = 0
    for (k = 1; k <= nm; k++) if (M[k] ~ /^[0-9.]+$/) M[++nn] = M[k]
    nm = nn
    xmin = -1; xmax = -1
    for (k = 1; k <= nm; k++) {
        if (xmin < 0 || M[k] + 0 < xmin) xmin = M[k] + 0
        if (xmax < 0 || M[k] + 0 > xmax) xmax = M[k] + 0
    }
    print "# gnuplot script written by midden-compare for " bench
    ndata = 0
    for (j = 1; j <= np; j++) {
        p = P[j]
        print "$d" j " << EOD"
        for (k = 1; k <= nm; k++) {
            key = bench SUBSEP p SUBSEP M[k]
            n = count[key] + 0
            if (n == 0) continue
            med = median(tm, key, n)
            print M[k], med, s[1], s[n]
            has[j] = 1
        }
        print "EOD"
    }
    print "if (strstrt(GPVAL_TERMINALS, \"pngcairo\") > 0) { set terminal pngcairo size 960,600 noenhanced font \",10\" } else { set terminal png size 960,600 }"
    print "set output " q(outdir "/" bench ".png")
    print "set title " q(bench " " args[bench] ": time vs heap size (median, min-max bars)")
    print "set xlabel \"heap size (multiple of the plan's minimum heap)\""
    print "set ylabel \"time (s)\""
    print "set logscale x 2"
    printf "set xtics ("
    for (k = 1; k <= nm; k++) printf "%s%s", (k > 1 ? ", " : ""), q(M[k] "x") " " M[k]
    print ")"
    print "set xrange [" xmin * 0.85 ":" xmax * 1.15 "]"
    print "set yrange [0:*]"
    print "set grid"
    print "set key outside right top"
    plot = ""; sep = ""
    for (j = 1; j <= np; j++) {
        if (!(j in has)) continue
        plot = plot sep "$d" j " using 1:2:3:4 with yerrorlines lw 2 title " q(P[j])
        sep = ", "
    }
    for (j = 1; j <= nv; j++) {
        t = cell_time(bench SUBSEP V[j] SUBSEP "natural")
        if (t <= 0) continue
        plot = plot sep t " with lines dt 2 lw 2 title " q(V[j] " (natural heap)")
        sep = ", "
    }
    if (plot == "") plot = "NaN title \"no successful runs\""
    print "plot " plot
    print "set terminal svg size 960,600 noenhanced"
    print "set output " q(outdir "/" bench ".svg")
    print "replot"
    print "unset output"
}

# Time against peak RSS: each plan's heap multiples as a line of points,
# its default-options run as a larger point, the baselines as points.
function rssplot(    j, k, p, key, n, t, r, plot, sep, has, hasdef) {
    print "# gnuplot script written by midden-compare for " bench " (time vs peak RSS)"
    for (j = 1; j <= np; j++) {
        p = P[j]
        print "$m" j " << EOD"
        for (k = 1; k <= nm; k++) {
            if (M[k] == "default") continue
            key = bench SUBSEP p SUBSEP M[k]
            n = count[key] + 0
            if (n == 0) continue
            print median(rss, key, n) / 1024, median(tm, key, n)
            has[j] = 1
        }
        print "EOD"
        key = bench SUBSEP p SUBSEP "default"
        n = count[key] + 0
        if (n > 0) { print "$f" j " << EOD"; print median(rss, key, n) / 1024, median(tm, key, n); print "EOD"; hasdef[j] = 1 }
    }
    print "$base << EOD"
    for (j = 1; j <= nv; j++) {
        key = bench SUBSEP V[j] SUBSEP "natural"
        n = count[key] + 0
        if (n > 0) print median(rss, key, n) / 1024, median(tm, key, n), q(V[j])
    }
    print "EOD"
    print "if (strstrt(GPVAL_TERMINALS, \"pngcairo\") > 0) { set terminal pngcairo size 960,600 noenhanced font \",10\" } else { set terminal png size 960,600 }"
    print "set output " q(outdir "/" bench "-rss.png")
    print "set title " q(bench " " args[bench] ": time vs peak RSS (medians; lines: fixed heap multiples, large points: default options)")
    print "set xlabel \"peak RSS (MiB)\""
    print "set ylabel \"time (s)\""
    print "set logscale x 2"
    print "set yrange [0:*]"
    print "set grid"
    print "set key outside right top"
    plot = ""; sep = ""
    for (j = 1; j <= np; j++) {
        if (j in has) { plot = plot sep "$m" j " using 1:2 with linespoints lw 2 lc " j " title " q(P[j] " (fixed multiples)"); sep = ", " }
        if (j in hasdef) { plot = plot sep "$f" j " using 1:2 with points pt 7 ps 2.5 lc " j " title " q(P[j] " (default)"); sep = ", " }
    }
    plot = plot sep "$base using 1:2 with points pt 5 ps 1.8 lc rgb \"black\" notitle, $base using 1:2:3 with labels offset 0,1 notitle"
    print "plot " plot
    print "set terminal svg size 960,600 noenhanced"
    print "set output " q(outdir "/" bench "-rss.svg")
    print "replot"
    print "unset output"
}

END {
    if (what == "table") table()
    else if (what == "summary") summary()
    else if (what == "plotdata") plotdata()
    else if (what == "rssplot") rssplot()
}

#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# rule_refs.sh - the contract is inside the repository, and complete.
#
#   1. docs/rules.md has one heading "### R<n>: <title>" per rule, numbered
#      from R1 with no gap and no duplicate.
#   2. Every rule number cited anywhere in the source tree (messages in
#      src/, comments, tests, tools, examples, man pages, docs, README.md,
#      ...) is one of those headings.  A citation is R<n> as a word: R12,
#      "(R26)", a list R5/R11/R20 (or R5/11), a range R26-R28, R10-16,
#      R1..R33 or "R1 to R7"; every number of a range counts.
#   3. Nothing points outside the repository: no "../" path to the old
#      shared directory, no mention of the old contract file (its name
#      ends in ".md"; matched without regard to case) and no bare word
#      naming it in capitals, as in a comment "(<that word> R30)".  The
#      patterns are built from pieces below, so this file passes its own
#      check.
#
# Files: in a git checkout, those git tracks plus the untracked ones it
# does not ignore (git ls-files --cached --others --exclude-standard);
# otherwise every file under the source directory except .git/ and the
# build directories.  Binary files and the fuzzer's seed corpus
# (tests/fuzz/corpus/, raw bytes) are not searched for citations.
#
# Source directory: $NMR_SOURCE_DIR if set (ctest sets it), else the root
# of the checkout this script is in.  Needs perl (as rules_table.sh does).
# Exit status: 0 pass, 77 skipped (the reason is printed), 1 failure, with
# file:line of each offending citation or pointer.
set -euo pipefail

skip() { echo "SKIPPED: $*"; exit 77; }
fail() { echo "FAIL: $*" >&2; exit 1; }

src=${NMR_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
[[ -d "$src" ]] || fail "source directory $src not found"
cd "$src"
[[ -f docs/rules.md ]] || fail "$src/docs/rules.md not found: the contract must be in the repository"
command -v perl > /dev/null || skip "perl not found; install perl to run this test"

# The file list, NUL-separated, relative to $src.
list_files() {
    if command -v git > /dev/null &&
       top=$(git rev-parse --show-toplevel 2> /dev/null) &&
       [[ "$(cd "$top" && pwd -P)" == "$(pwd -P)" ]]; then
        echo "files: git ls-files in $src" >&2
        git ls-files -z --cached --others --exclude-standard
    else
        echo "files: find in $src (not a git checkout)" >&2
        find . \( -name .git -o -path './build*' \) -prune -o \
             -type f ! -name '*.o' ! -name '*.so' -print0 | sed -z 's|^\./||'
    fi
}

list_files | perl -0 -e '
use strict;
use warnings;

my $rules = "docs/rules.md";
my @problems;

# ---- 1. the headings of docs/rules.md ----------------------------------
my (%have, $max);
open my $rfh, "<", $rules or die "$rules: $!\n";
$/ = "\n"; # perl -0 made it NUL, for the file list on standard input
while (my $l = <$rfh>) {
    next unless $l =~ /^### R(\d+): \S/;
    my $n = $1 + 0;
    push @problems, "$rules:$.: second heading for R$n" if $have{$n}++;
    $max = $n if !defined $max || $n > $max;
}
close $rfh;
unless (defined $max) {
    print STDERR "FAIL: $rules has no rule heading (\"### R<n>: <title>\") at all\n";
    exit 1;
}
for my $n (1 .. $max) {
    push @problems, "$rules: no heading \"### R$n: ...\" (the rules are R1 to R$max)"
        unless $have{$n};
}

# ---- 2 and 3: citations and outside pointers, file by file -------------
# A rule number: R<digits>, not inside a longer word (STR2, R2D2, x_R3).
my $cite = qr{
    (?<![A-Za-z0-9_]) R(\d+)
    ( (?: \s* (?: - | \xe2\x80\x93 | \.\. ) \s* R\d+   # R26-R28, R26..R28
        | (?: - | \.\. ) \d+                       # R10-16
        | \s+ to \s+ R\d+                          # R1 to R7
        | / R?\d+                                  # R5/R11, R5/11
      )* )
    (?![A-Za-z0-9_])
}x;
my $up = "SP" . "EC";
my @pointers = (
    [qr{\.\./shared},       "a path to the shared directory outside the repository"],
    [qr{\Q$up\E\.md}i,      "the old contract file outside the repository"],
    [qr{(?<![A-Za-z0-9_])\Q$up\E(?![A-Za-z0-9_])},
                            "a reference to the old contract outside the repository"],
);

my ($nfiles, $ncites, %cited) = (0, 0);
$/ = "\0";
while (my $f = <STDIN>) {
    chomp $f;
    next if $f eq "" || !-f $f;
    open my $fh, "<:raw", $f or die "$f: $!\n";
    my $text = do { local $/; <$fh> };
    close $fh;
    $text //= "";
    my $binary = index($text, "\0") >= 0;
    my $citations = !$binary && $f !~ m{^tests/fuzz/corpus/};
    $nfiles++;
    my $ln = 0;
    for my $line (split /\n/, $text, -1) {
        $ln++;
        for my $p (@pointers) {
            if ($line =~ $p->[0]) {
                push @problems, "$f:$ln: $p->[1]: \"$&\"";
                last;
            }
        }
        next unless $citations;
        while ($line =~ /$cite/g) {
            my ($text, $prev, $tail) = ($&, $1 + 0, $2);
            my @nums = ($prev);
            while ($tail =~ m{\G\s*(/|-|\xe2\x80\x93|\.\.|to)?\s*R?(\d+)}gc) {
                my ($op, $n) = ($1 // "/", $2 + 0);
                if ($op eq "/") {
                    push @nums, $n;
                } elsif ($n < $prev) {
                    push @problems, "$f:$ln: backwards range \"$text\"";
                } else {
                    push @nums, $prev + 1 .. $n;
                }
                $prev = $n;
            }
            for my $n (@nums) {
                $ncites++;
                $cited{$n}++;
                push @problems, "$f:$ln: R$n (in \"$text\") is not a rule of $rules"
                    unless $have{$n};
            }
        }
    }
}

if (@problems) {
    print STDERR "$_\n" for @problems;
    printf STDERR "FAIL: %d problem%s (above)\n", scalar @problems,
        @problems == 1 ? "" : "s";
    exit 1;
}
my @never = grep { !$cited{$_} } 1 .. $max;
printf "PASS: %d rules in %s; %d citations of %d of them in %d files all name one; "
     . "no pointer outside the repository\n", $max, $rules, $ncites,
     scalar keys %cited, $nfiles;
printf "  (rules cited nowhere: %s)\n", join(" ", map "R$_", @never) if @never;
'

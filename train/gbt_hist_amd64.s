#include "textflag.h"

#define PREFETCH 16

// func histRowsSSE2(h *histBin, bins *uint8, nf int, gh *float32, rows *int32, n int)
//
// For each of the n rows r in rows: (g, h) = (gh[2r], gh[2r+1]) as float64,
// and for each feature f < nf, hist[f*256 + bins[r*nf+f]] += (g, h), the
// pair added with one ADDPD. nf must be >= 1; the Go wrapper checks bounds.
TEXT ·histRowsSSE2(SB), NOSPLIT, $0-48
	MOVQ h+0(FP), DI
	MOVQ bins+8(FP), SI
	MOVQ nf+16(FP), CX
	MOVQ gh+24(FP), DX
	MOVQ rows+32(FP), R8
	MOVQ n+40(FP), R9
	TESTQ R9, R9
	JLE done

row:
	// Prefetch the bins and gradients of the row PREFETCH rows ahead:
	// node rows are ascending but sparse, so the hardware prefetchers
	// miss them, and each would otherwise wait on memory.
	CMPQ R9, $PREFETCH+1
	JLT noprefetch
	MOVLQSX (PREFETCH*4)(R8), BX
	PREFETCHT0 (DX)(BX*8)
	IMULQ CX, BX
	LEAQ (SI)(BX*1), R13
	PREFETCHT0 (R13)
	PREFETCHT0 -1(R13)(CX*1)

noprefetch:
	MOVLQSX (R8), AX
	MOVSS (DX)(AX*8), X0
	MOVSS 4(DX)(AX*8), X1
	CVTSS2SD X0, X0
	CVTSS2SD X1, X1
	UNPCKLPD X1, X0
	IMULQ CX, AX
	LEAQ (SI)(AX*1), R10
	MOVQ DI, R11
	MOVQ CX, R12

quad:
	CMPQ R12, $4
	JLT single
	MOVBLZX (R10), AX
	MOVBLZX 1(R10), BX
	MOVBLZX 2(R10), R13
	MOVBLZX 3(R10), R14
	SHLQ $4, AX
	SHLQ $4, BX
	SHLQ $4, R13
	SHLQ $4, R14
	MOVUPD (R11)(AX*1), X2
	MOVUPD 4096(R11)(BX*1), X3
	MOVUPD 8192(R11)(R13*1), X4
	MOVUPD 12288(R11)(R14*1), X5
	ADDPD X0, X2
	ADDPD X0, X3
	ADDPD X0, X4
	ADDPD X0, X5
	MOVUPD X2, (R11)(AX*1)
	MOVUPD X3, 4096(R11)(BX*1)
	MOVUPD X4, 8192(R11)(R13*1)
	MOVUPD X5, 12288(R11)(R14*1)
	ADDQ $4, R10
	ADDQ $16384, R11
	SUBQ $4, R12
	JMP quad

single:
	TESTQ R12, R12
	JEQ next
	MOVBLZX (R10), AX
	SHLQ $4, AX
	MOVUPD (R11)(AX*1), X2
	ADDPD X0, X2
	MOVUPD X2, (R11)(AX*1)
	INCQ R10
	ADDQ $4096, R11
	DECQ R12
	JMP single

next:
	ADDQ $4, R8
	DECQ R9
	JNZ row

done:
	RET

using System.Numerics;
using System.Runtime.InteropServices;
using ILGPU;
using ILGPU.Runtime;
using LowBitQuant.Hessian;
using LowBitQuant.Internal;

namespace LowBitQuant.Kernels.Gpu;

/// <summary>The GPU kernels of one ILGPU accelerator, each compiled once into a delegate. Owned by a <see cref="ComputeContext"/>.</summary>
internal sealed class GpuKernels : IDisposable
{
    /// <summary>Tokens per Gram launch: the float32 partial XᵀX of a chunk is added into the float64 host accumulator after each one.</summary>
    internal const int GramChunkTokens = 4096;

    private readonly Accelerator _accelerator;
    private readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, int, int> _gram;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<byte>, int, int> _quantize;
    private readonly Action<Index1D, ArrayView<byte>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int> _dequantize;
    private readonly Action<Index1D, ArrayView<float>, int> _fwhtStage;
    private readonly Action<KernelConfig, ArrayView<float>, int> _fwhtShared;
    private readonly Lock _gate = new();
    private bool _disposed;

    public GpuKernels(Accelerator accelerator)
    {
        _accelerator = accelerator;
        _gram = accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, int, int>(GramKernel.Run);
        _quantize = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<byte>, int, int>(AffineKernel.Quantize);
        _dequantize = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<byte>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int>(AffineKernel.Dequantize);
        _fwhtStage = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, int>(FwhtKernel.Stage);
        _fwhtShared = accelerator.LoadStreamKernel<ArrayView<float>, int>(FwhtKernel.SharedRow);
    }

    /// <summary>Adds XᵀX of a finite tokens × n batch to the float64 upper-triangle accumulator, one float32 GPU partial per chunk of tokens.</summary>
    public void AccumulateGram(ReadOnlySpan<float> x, PackedGramAccumulator accumulator)
    {
        int n = accumulator.Columns;
        int tokens = x.Length / n;
        if (tokens == 0)
        {
            return;
        }

        int chunk = (int)Math.Max(1, Math.Min(Math.Min(GramChunkTokens, tokens), int.MaxValue / n));
        int tiles = (n + GramKernel.TileSize - 1) / GramKernel.TileSize;
        var partial = new float[(long)n * n];
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            using var xBuffer = _accelerator.Allocate1D<float>((long)chunk * n);
            using var cBuffer = _accelerator.Allocate1D<float>((long)n * n);
            for (int t0 = 0; t0 < tokens; t0 += chunk)
            {
                int count = Math.Min(chunk, tokens - t0);
                var rows = x.Slice(t0 * n, count * n);
                var xView = xBuffer.View.SubView(0, rows.Length);
                xView.CopyFromCPU(ref MemoryMarshal.GetReference(rows), rows.Length);
                cBuffer.View.MemSetToZero();
                _gram(new KernelConfig(new Index2D(tiles, tiles), new Index2D(GramKernel.TileSize, GramKernel.TileSize)), xView, cBuffer.View, count, n);
                _accelerator.Synchronize();
                cBuffer.View.CopyToCPU(ref partial[0], partial.LongLength);
                AddUpper(partial, accumulator);
            }
        }
    }

    /// <summary>codes[i] = clamp(round(x[i] / s_g + frac(z_g)) + int(z_g), 0, maxCode) with g = i / groupSize.</summary>
    public void QuantizeAffine(ReadOnlySpan<float> x, ReadOnlySpan<float> scales, ReadOnlySpan<float> zeros, int groupSize, int maxCode, Span<byte> codes)
    {
        if (x.IsEmpty)
        {
            return;
        }

        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            using var xb = Upload(x);
            using var sb = Upload(scales);
            using var zb = Upload(zeros);
            using var cb = _accelerator.Allocate1D<byte>(x.Length);
            _quantize(x.Length, xb.View, sb.View, zb.View, cb.View, groupSize, maxCode);
            _accelerator.Synchronize();
            cb.View.CopyToCPU(ref MemoryMarshal.GetReference(codes), x.Length);
        }
    }

    /// <summary>destination[i] = s_g · (codes[i] − z_g) with g = i / groupSize.</summary>
    public void DequantizeAffine(ReadOnlySpan<byte> codes, ReadOnlySpan<float> scales, ReadOnlySpan<float> zeros, int groupSize, Span<float> destination)
    {
        if (codes.IsEmpty)
        {
            return;
        }

        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            using var cb = _accelerator.Allocate1D<byte>(codes.Length);
            cb.View.CopyFromCPU(ref MemoryMarshal.GetReference(codes), codes.Length);
            using var sb = Upload(scales);
            using var zb = Upload(zeros);
            using var db = _accelerator.Allocate1D<float>(codes.Length);
            _dequantize(codes.Length, cb.View, sb.View, zb.View, db.View, groupSize);
            _accelerator.Synchronize();
            db.View.CopyToCPU(ref MemoryMarshal.GetReference(destination), codes.Length);
        }
    }

    /// <summary>
    /// In-place unnormalised FWHT of every <paramref name="n"/>-long row of <paramref name="rows"/>, bit-identical to
    /// <c>CpuKernels.FwhtRows</c>: one shared-memory group per row for n ≤ <see cref="FwhtKernel.SharedMaxLength"/>
    /// (and n/2 within the accelerator's group size), else one
    /// launch per butterfly stage.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="n"/> is not a power of two or does not divide the length of <paramref name="rows"/>.</exception>
    public void Fwht(Span<float> rows, int n) => Fwht(rows, n, forceStaged: false);

    /// <summary>As <see cref="Fwht(Span{float}, int)"/>; <paramref name="forceStaged"/> runs the per-stage kernel at every n (for tests).</summary>
    internal void Fwht(Span<float> rows, int n, bool forceStaged)
    {
        if (n <= 0 || !BitOperations.IsPow2(n))
        {
            ThrowHelper.ThrowArgument(nameof(n), $"FWHT length {n} is not a power of two.");
        }

        if (rows.Length % n != 0)
        {
            ThrowHelper.ThrowArgument(nameof(rows), $"Length {rows.Length} is not a multiple of the FWHT length {n}.");
        }

        if (rows.IsEmpty || n == 1)
        {
            return; // H_1 = [1]: nothing to do.
        }

        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            using var buffer = Upload(rows);
            // The shared kernel needs a group of n/2 threads: CUDA allows 1024, smaller accelerators (ILGPU's CPU simulator) fewer.
            if (!forceStaged && n <= FwhtKernel.SharedMaxLength && n / 2 <= _accelerator.MaxNumThreadsPerGroup)
            {
                _fwhtShared(new KernelConfig(new Index1D(rows.Length / n), new Index1D(n / 2)), buffer.View, n);
            }
            else
            {
                for (int h = 1; h < n; h *= 2)
                {
                    _fwhtStage(rows.Length / 2, buffer.View, h);
                }
            }

            _accelerator.Synchronize();
            buffer.View.CopyToCPU(ref MemoryMarshal.GetReference(rows), rows.Length);
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _disposed = true;
        }
    }

    private MemoryBuffer1D<float, Stride1D.Dense> Upload(ReadOnlySpan<float> values)
    {
        var buffer = _accelerator.Allocate1D<float>(values.Length);
        buffer.View.CopyFromCPU(ref MemoryMarshal.GetReference(values), values.Length);
        return buffer;
    }

    private static void AddUpper(float[] partial, PackedGramAccumulator accumulator)
    {
        const int T = PackedGramAccumulator.Tile;
        int n = accumulator.Columns;
        var data = accumulator.Data;
        for (int row = 0; row < n; row++)
        {
            int ti = row / T, r = row % T;
            for (int column = row; column < n; column++)
            {
                data[accumulator.Offset(ti, column / T) + (r * T) + (column % T)] += partial[((long)row * n) + column];
            }
        }
    }
}

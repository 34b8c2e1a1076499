using System.Runtime.InteropServices;
using ILGPU;
using ILGPU.Runtime;
using LowBitQuant.Hessian;

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
    private readonly Lock _gate = new();
    private bool _disposed;

    public GpuKernels(Accelerator accelerator)
    {
        _accelerator = accelerator;
        _gram = accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, int, int>(GramKernel.Run);
        _quantize = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<byte>, int, int>(AffineKernel.Quantize);
        _dequantize = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<byte>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int>(AffineKernel.Dequantize);
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

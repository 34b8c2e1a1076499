namespace LowBitQuant.Tests.Kernels;

/// <summary>
/// Host ↔ device copies under garbage-collector pressure. ILGPU's <c>CopyFromCPU(ref T, length)</c>/<c>CopyToCPU</c> take the address
/// of a pinned buffer; given an unpinned managed array, a compacting GC between taking the address and the copy moves the array and
/// the copy reads or writes stale memory. GpuKernels pins every span for the whole copy.
/// </summary>
/// <remarks>
/// A stress test, opt-in with <c>LOWBITQUANT_STRESS=1</c> (3–6 minutes on 2 cores: every forced collection has to suspend the
/// simulator's 256 worker threads). With the copies unpinned it found 69 wrong values in 300 rounds (2026-12-06); pinned, none.
/// Lighter GC pressure that fits a CI budget did not hit the window reliably, so CI skips it rather than pretend to check it.
/// </remarks>
public sealed class IlgpuCpuCopyTests : IDisposable
{
    private readonly ComputeContext _compute = ComputeContext.CreateIlgpuCpuForTesting();

    public void Dispose() => _compute.Dispose();

    [SkippableFact]
    public void RoundTripsSurviveCompactingCollections()
    {
        Skip.IfNot(Environment.GetEnvironmentVariable("LOWBITQUANT_STRESS") == "1", "stress test: set LOWBITQUANT_STRESS=1");
        bool stop = false;
        var collector = new Thread(() =>
        {
            while (!Volatile.Read(ref stop))
            {
                GC.Collect(0, GCCollectionMode.Forced, blocking: true, compacting: true);
            }
        });
        collector.Start();

        var kernels = _compute.GpuKernels!;
        var rng = new Random(3);
        int wrong = 0;
        try
        {
            for (int round = 0; round < 300; round++)
            {
                // Fresh gen-0 arrays (the ones a compacting collection moves), with garbage allocated in between.
                int n = 8 + rng.Next(64);
                var codes = new byte[n];
                rng.NextBytes(codes);
                _ = new byte[rng.Next(1, 4096)];
                var scales = new float[] { 0.5f };
                var zeros = new float[] { 1f };
                var restored = new float[n];
                kernels.DequantizeAffine(codes, scales, zeros, n, restored);
                for (int i = 0; i < n; i++)
                {
                    wrong += restored[i] == 0.5f * (codes[i] - 1f) ? 0 : 1;
                }
            }
        }
        finally
        {
            Volatile.Write(ref stop, true);
            collector.Join();
        }

        Assert.Equal(0, wrong);
    }
}

using System.Text;
using LowBitQuant.Formats.Imatrix;

namespace LowBitQuant.Tests.Formats.Imatrix;

public sealed class ImatrixWriterTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("lbq-imatrix-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void WritesTheLegacyLayoutByteForByte()
    {
        var a = HessianEstimate.FromDiagonal([2f, 0f, 4f], 10);
        var b = HessianEstimate.FromDiagonal([0f, 0f], 10);
        string path = Path.Combine(_dir, "x.dat");
        ImatrixWriter.Write(path, [new("blk.0.attn_q.weight", a), new("blk.0.ffn_down.weight", b)], "austen.txt");

        // Expected bytes built by hand from imatrix.md §1.
        var ms = new MemoryStream();
        var w = new BinaryWriter(ms);
        w.Write(2);
        w.Write(19); w.Write(Encoding.ASCII.GetBytes("blk.0.attn_q.weight")); w.Write(1); w.Write(3); w.Write(2f); w.Write((float)(1e-6 * 2)); w.Write(4f);
        w.Write(21); w.Write(Encoding.ASCII.GetBytes("blk.0.ffn_down.weight")); w.Write(1); w.Write(2); w.Write(1f); w.Write(1f);
        w.Write(1); w.Write(10); w.Write(Encoding.ASCII.GetBytes("austen.txt"));
        Assert.Equal(ms.ToArray(), File.ReadAllBytes(path));
    }

    [Fact]
    public void RejectsEmptyAndDuplicateEntries()
    {
        var a = HessianEstimate.FromDiagonal([1f], 1);
        string path = Path.Combine(_dir, "y.dat");
        Assert.Equal("entries", Assert.Throws<ArgumentException>(() => ImatrixWriter.Write(path, [])).ParamName);
        Assert.Equal("entries", Assert.Throws<ArgumentException>(() => ImatrixWriter.Write(path, [new("n", a), new("n", a)])).ParamName);
        Assert.False(File.Exists(path));
    }
}

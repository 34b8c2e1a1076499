using LowBitQuant.Internal;
using LowBitQuant.Tests.Formats.Safetensors;

namespace LowBitQuant.Tests.Internal;

public sealed class AtomicFileTests : IDisposable
{
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public void WritesAndReplacesTheTarget()
    {
        string path = _temp.File("a.bin");
        AtomicFile.Write(path, s => s.Write([1, 2, 3]));
        AtomicFile.Write(path, s => s.Write([4, 5]));
        Assert.Equal([4, 5], File.ReadAllBytes(path));
        Assert.Equal(["a.bin"], _temp.Entries());
    }

    [Fact]
    public void FailureMidWayLeavesThePreviousFileAndNoTemporary()
    {
        string path = _temp.File("a.bin");
        File.WriteAllBytes(path, [9, 9]);
        string[]? during = null;
        var ex = Assert.Throws<IOException>(() => AtomicFile.Write(path, s =>
        {
            s.Write(new byte[100_000]);
            s.Flush();
            during = _temp.Entries();
            throw new IOException("disk full");
        }));
        Assert.Equal("disk full", ex.Message);
        Assert.Equal(2, during!.Length); // the temporary file existed beside the target while writing
        Assert.Equal([9, 9], File.ReadAllBytes(path));
        Assert.Equal(["a.bin"], _temp.Entries());
    }

    [Fact]
    public void CancellationBeforeRenameLeavesNothing()
    {
        using var cts = new CancellationTokenSource();
        string path = _temp.File("a.bin");
        Assert.ThrowsAny<OperationCanceledException>(() => AtomicFile.Write(path, s => { s.Write([1]); cts.Cancel(); }, cts.Token));
        Assert.Empty(_temp.Entries());
    }

    [Fact]
    public void MissingFolderThrowsAndCreatesNothing()
    {
        string path = Path.Combine(_temp.Path, "missing", "a.bin");
        Assert.Throws<DirectoryNotFoundException>(() => AtomicFile.Write(path, s => s.Write([1])));
        Assert.Empty(_temp.Entries());
    }
}

using PapaActors.Models.Data;
using PapaActors.Tests.Support;

namespace PapaActors.Tests.Host;

public sealed class CommandLineTests
{
    internal static readonly string[] Tiny =
    [
        "--set", "dataset=synthetic", "--set", "train-limit=300", "--set", "test-limit=100", "--set", "model-width=0.25",
        "--set", "population=2", "--set", "epochs=1", "--set", "batch-size=30", "--set", "batchnorm.reset-batches=2",
    ];

    [Fact]
    public void HelpExplainsTheRunOptions()
    {
        var result = Cli.RunInProcess("run", "--help");
        Assert.Equal(0, result.ExitCode);
        foreach (var option in new[] { "--config", "--set", "--out", "hocon/reference.conf" })
            Assert.Contains(option, result.Output);
    }

    [Theory]
    [InlineData("papa.bogus=1", "unknown key 'papa.bogus'")]
    [InlineData("method=papa3", "'papa.method' = 'papa3' is not allowed: expected one of none | papa | papa-all | papa-2")]
    [InlineData("epochs", "--set expects key=value, got 'epochs'")]
    [InlineData("round-timeout=0", "'papa.round-timeout' = '0' is not allowed: expected a duration > 0")]
    public void BadConfigurationExitsWithCode2AndNamesTheKey(string assignment, string message)
    {
        using var folder = new TempFolder();
        var result = Cli.RunInProcess("run", "--set", assignment, "--out", folder.File("run"));
        Cli.AssertRejected(result, message);
        Assert.False(Directory.Exists(folder.File("run")), "nothing is written for a rejected config");
    }

    [Theory]
    [InlineData(false, new[] { 65536, 65536, 65536 }, "header 65536 x 65536 x 65536 promises 281474976710656 data bytes, found 100")]
    [InlineData(true, new[] { 65536, 65536, 65536 }, "header 65536 x 65536 x 65536 promises 281474976710656 data bytes, more than an array can hold")]
    [InlineData(true, new[] { 1, 46000, 46000 }, "header 1 x 46000 x 46000 promises 2116000000 data bytes, found 100")]
    public void AnIdxHeaderThatPromisesMoreThanTheFileHoldsIsNamed(bool gzip, int[] dimensions, string message)
    {
        using var folder = new TempFolder();
        DataFiles.WriteMnistFolder(folder.Path, train: 10, test: 10, gzip);
        var images = folder.File("train-images-idx3-ubyte");
        DataFiles.Write(images, DataFiles.Idx(dimensions, new byte[100]), gzip);

        var result = Cli.RunInProcess("run", "--set", "dataset=mnist", "--set", $"data-dir={folder.Path}", "--out", folder.File("run"));
        Cli.AssertRejected(result, images, message);
    }

    [Theory]
    [InlineData("include \"/etc/passwd\"\n", "`include \"/etc/passwd\"` is not supported")]
    [InlineData("papa { epochs = 1 }\n}}}\n", "line 2: unbalanced '}'")]
    public void AConfigFileWithAnIncludeOrTrailingBracesIsRefused(string text, string message)
    {
        using var folder = new TempFolder();
        File.WriteAllText(folder.File("run.conf"), text);
        var result = Cli.RunInProcess("run", "--config", folder.File("run.conf"), "--out", folder.File("run"));
        Cli.AssertRejected(result, $"{folder.File("run.conf")}: {message}");
        Assert.False(Directory.Exists(folder.File("run")), "nothing is written for a rejected config");
    }

    [Fact]
    public void MissingDatasetSaysHowToInstallIt()
    {
        using var folder = new TempFolder();
        var result = Cli.RunInProcess("run", "--set", $"data-dir={folder.File("nothing-here")}", "--out", folder.File("run"));
        Cli.AssertRejected(result, "train-images-idx3-ubyte", "apt-get install dataset-fashion-mnist");
    }

    [Fact]
    public void ANodeWhosePortIsTakenSaysSoInOneLine()
    {
        using var taken = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        taken.Start();
        var port = ((System.Net.IPEndPoint)taken.LocalEndpoint).Port;
        var result = Cli.RunInProcess("node", "--role", "member", "--members", "0", "--port", port.ToString(), "--seed-node", $"akka.tcp://papa@127.0.0.1:{port}");
        Cli.AssertRejected(result, $"cannot listen on 127.0.0.1:{port}", "Address already in use", "--port");
    }

    [Fact]
    public void AnExistingRunFolderIsNeverOverwritten()
    {
        using var folder = new TempFolder();
        File.WriteAllText(folder.File("results.json"), "{}");
        var result = Cli.RunInProcess(["run", .. Tiny, "--out", folder.Path]);
        Cli.AssertRejected(result, "already exists and is not empty");
        Assert.Equal(["results.json"], Directory.GetFileSystemEntries(folder.Path).Select(Path.GetFileName));
        Assert.Equal("{}", File.ReadAllText(folder.File("results.json")));
    }

    [Fact]
    public void AFileGivenAsTheRunFolderIsRefused()
    {
        using var folder = new TempFolder();
        File.WriteAllText(folder.File("notes.txt"), "keep");
        var result = Cli.RunInProcess(["run", .. Tiny, "--out", folder.File("notes.txt")]);
        Cli.AssertRejected(result, $"the run folder {folder.File("notes.txt")} is a file, not a folder");
        Assert.Equal("keep", File.ReadAllText(folder.File("notes.txt")));
    }

    [Theory]
    [InlineData("run")]
    [InlineData("node --role averager")]
    public void ABatchLargerThanTheTrainingSplitIsRefusedBeforeTheRunStarts(string command)
    {
        using var folder = new TempFolder();
        var result = Cli.RunInProcess([.. command.Split(' '), .. Tiny, "--set", "batch-size=65536", "--out", folder.File("run")]);
        Cli.AssertRejected(result, "'papa.batch-size' = 65536 is too large", "the training split has 294 samples");
    }

    [Fact]
    public void CifarFilesWritesAFolderTheCifarReaderLoadsWithTheAskedCountsTheSameEachTime()
    {
        using var folder = new TempFolder();

        var first = Cli.RunInProcess("bench", "cifar-files", folder.File("a"), "--train", "103", "--test", "17");
        var second = Cli.RunInProcess("bench", "cifar-files", folder.File("b"), "--train", "103", "--test", "17");
        var tooFew = Cli.RunInProcess("bench", "cifar-files", folder.File("c"), "--train", "4");

        Assert.True(first.ExitCode == 0, first.Output);
        Assert.True(second.ExitCode == 0, second.Output);
        using var data = DatasetLoader.Load(new DatasetSpec("cifar10", folder.File("a"), HeldOutFraction: 0.1, Seed: 1));
        Assert.Equal(103, data.Train.Count + data.HeldOut.Count);
        Assert.Equal(17, data.Test.Count);
        Assert.Equal(new ImageShape(3, 32, 32), data.Shape);
        foreach (var file in Directory.GetFiles(folder.File("a")))
            Assert.Equal(File.ReadAllBytes(file), File.ReadAllBytes(Path.Combine(folder.File("b"), Path.GetFileName(file))));
        Assert.Equal(2, tooFew.ExitCode);
        Assert.Contains("need at least 5 training images", tooFew.Output);
    }
}

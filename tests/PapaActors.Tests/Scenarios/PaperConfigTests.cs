using Akka.TestKit.Xunit2;
using PapaActors.Actors.Configuration;
using PapaActors.Actors.Messages;
using PapaActors.Actors.Population;
using PapaActors.Actors.Schedule;
using PapaActors.Host;
using PapaActors.Models;
using PapaActors.Models.Data;
using PapaActors.Models.Weights;
using PapaActors.Testing;
using PapaActors.Tests.Support;

namespace PapaActors.Tests.Scenarios;

/// <summary>Small CIFAR-10 and CIFAR-100 folders written once for every paper config's run.</summary>
public sealed class CifarFolders : IDisposable
{
    private readonly TempFolder _folder = new();

    public CifarFolders()
    {
        Directory.CreateDirectory(Cifar10);
        Directory.CreateDirectory(Cifar100);
        DataFiles.WriteCifar10Folder(Cifar10, perFile: 10);
        DataFiles.WriteCifar100Folder(Cifar100, train: 50, test: 10);
    }

    public string Cifar10 => _folder.File("cifar10");
    public string Cifar100 => _folder.File("cifar100");

    public void Dispose() => _folder.Dispose();
}

/// <summary>
/// Every config of hocon/paper/ as written, run for a few steps on small CIFAR-format folders: 2 epochs of 2 steps at
/// 1/8 width, so the merge after epoch 1 (mix-from-start), PAPA's lr-scaled pushes and the soups all happen.
/// PaperConfigHeaderTests checks each config's values against the reference command line its header quotes.
/// </summary>
[Trait("Category", "Slow")]
public sealed class PaperConfigTests(CifarFolders folders) : TestKit(PapaTestKitConfig.For(TestSettings.TinyConfig(), virtualTime: false)), IClassFixture<CifarFolders>
{
    private static List<string> Names() =>
        Directory.GetFiles(RepositoryFiles.Path("hocon", "paper"), "*.conf").Select(f => Path.GetFileNameWithoutExtension(f)).Order().ToList();

    public static TheoryData<string> PaperConfigs() => new(Names());

    [Fact]
    public void ThereIsAConfigForEveryRunOfThePapersScriptsEachNamingItsTableAndCommandLine()
    {
        // The CIFAR runs of scripts/paper_experiments.sh and paper_gradual_experiments.sh (47ad83a): CIFAR-10 VGG-11 and
        // ResNet-18, CIFAR-100 VGG-16 and ResNet-18: none, PAPA-all, PAPA-2, without and with variations (and PAPA for
        // ResNet-18, from the gradual script); resnet20: none, and the three averaging methods with variations.
        Assert.Equal(4 * 6 + 2 * 2 + 4, Names().Count);
        foreach (var name in Names())
        {
            var text = File.ReadAllText(RepositoryFiles.Path("hocon", "paper", name + ".conf"));
            Assert.StartsWith("# Reproduces the paper's", text);
            Assert.Contains("#   python main.py --data ", text);
            Assert.Contains("--lr_scheduler cosine", text);
            Assert.Equal(name.EndsWith("-variations"), text.Contains("--mixup 0.0 0.5 1.0 --wd 1e-4 --smooth 0.0 0.05 0.10 --cutmix 0.0 0.5 1.0 --re 0.0 0.15 0.35"));
        }
    }

    [Theory]
    [MemberData(nameof(PaperConfigs))]
    public async Task APaperConfigRunsAFewStepsOnACifarFolder(string name)
    {
        TorchRuntime.Configure(1);
        using var run = new TempFolder();
        var file = RepositoryFiles.Path("hocon", "paper", name + ".conf");
        var dataset = name.StartsWith("cifar100", StringComparison.Ordinal) ? "cifar100" : "cifar10";
        var config = RunConfig.Load(file, [$"data-dir={(dataset == "cifar10" ? folders.Cifar10 : folders.Cifar100)}",
            "epochs=2", "train-limit=48", "test-limit=10", "batch-size=16", "eval-batch-size=16", "model-width=0.125", "ema-every-steps=1",
            "repair-batches=1", "batchnorm.reset-batches=1", "torch-threads=1"]);
        var settings = config.Settings;
        Assert.Equal(dataset, settings.Dataset.Name);
        using var data = DatasetLoader.Load(settings.Dataset);

        var outcome = await LocalPopulation.RunAsync(Sys, config, data, run.Path, CommandLines.Resume(run.Path)).WaitAsync(Timeouts.Run);

        var results = Assert.IsType<RunCompleted>(outcome, exactMatch: false).Results;
        Assert.Equal(3, results.Members.Count);
        Assert.All(results.Members, m => Assert.True(float.IsFinite(m.Weights.Values.Sum()), $"member {m.Member} is not finite"));
        var journal = ScheduleJournal.Read(Path.Combine(run.Path, ScheduleJournal.FileName));
        var mixes = journal.Rounds.Where(r => r.Mix is not NoMix).ToList();
        switch (settings.Method)
        {
            case MixingMethod.PapaAll or MixingMethod.Papa2:
                // 47 training images (one held out) in batches of 16: 2 steps an epoch; mix-from-start merges after epoch 1
                Assert.Equal([2L], mixes.Select(r => r.EndStep));
                break;
            case MixingMethod.Papa:
                // lr-scaling = linear: each push keeps more of the member as the cosine schedule falls
                var keeps = mixes.Select(r => ((PushTowardMean)r.Mix).Keep).ToList();
                Assert.True(keeps.Count >= 2 && keeps.Zip(keeps.Skip(1)).All(k => k.First < k.Second) && keeps.All(k => k > settings.Mixing.Rho),
                    $"keeps [{string.Join(", ", keeps)}]");
                break;
            default:
                Assert.Empty(mixes);
                // The scripts align and REPAIR the soups of none but for resnet20 (--permutation False, no --repair_soup).
                Assert.Equal(!name.Contains("resnet20"), settings.AlignSoups);
                Assert.Equal(!name.Contains("resnet20"), settings.Training.Repair.Soups);
                if (settings.Training.Repair.Soups)
                {
                    var mean = WeightMath.Average(results.Members.Select(m => m.Weights).ToList());
                    Assert.NotEqual<float>(mean.Values, results.AverageSoup.Weights.Values);
                }
                break;
        }
    }
}

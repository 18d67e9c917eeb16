using PapaActors.Models.Data;
using PapaActors.Tests.Support;
using static TorchSharp.torch;

namespace PapaActors.Tests.Models.Data;

public sealed class DatasetLoaderTests : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void IdxFolderLoadsImagesAndLabelsPlainOrGzipped(bool gzip)
    {
        DataFiles.WriteMnistFolder(_folder.Path, train: 50, test: 20, gzip);
        using var data = DatasetLoader.Load(new DatasetSpec("mnist", _folder.Path, 0.1, Seed: 3));

        Assert.Equal(45, data.Train.Count);
        Assert.Equal(5, data.HeldOut.Count);
        Assert.Equal(20, data.Test.Count);
        Assert.Equal(new ImageShape(1, 28, 28), data.Shape);
        // Every image's pixels encode its label (label * 20 + i % 7), so labels and images stay paired.
        var labels = data.Train.LabelArray();
        var firstPixels = data.Train.Images.flatten(1)[.., 0].to_type(ScalarType.Int32).data<int>().ToArray();
        Assert.All(labels.Zip(firstPixels), pair => Assert.Equal(pair.First, pair.Second / 20));
    }

    [Fact]
    public void HeldOutSplitIsSeededAndDisjointFromTraining()
    {
        DataFiles.WriteMnistFolder(_folder.Path, train: 200, test: 10, gzip: false);
        int[] HeldOutPixels(int seed)
        {
            using var data = DatasetLoader.Load(new DatasetSpec("mnist", _folder.Path, 0.2, seed));
            return data.HeldOut.Images.flatten(1)[.., 0].to_type(ScalarType.Int32).data<int>().ToArray();
        }

        using var split = DatasetLoader.Load(new DatasetSpec("mnist", _folder.Path, 0.2, Seed: 1));
        Assert.Equal(160, split.Train.Count);
        Assert.Equal(40, split.HeldOut.Count);
        Assert.Equal(HeldOutPixels(1), HeldOutPixels(1));
        Assert.NotEqual(HeldOutPixels(1), HeldOutPixels(2));
    }

    [Fact]
    public void WrongMagicNumberNamesTheFile()
    {
        DataFiles.WriteMnistFolder(_folder.Path, 10, 10, gzip: false);
        var images = _folder.File("train-images-idx3-ubyte");
        var bytes = File.ReadAllBytes(images);
        bytes[0] = 0x12;
        File.WriteAllBytes(images, bytes);

        var error = Assert.Throws<DatasetFormatException>(() => DatasetLoader.Load(new DatasetSpec("mnist", _folder.Path, 0, 1)));
        Assert.Equal(images, error.Path);
        Assert.Contains("wrong magic number", error.Message);
    }

    [Fact]
    public void TruncatedFileSaysHowManyBytesAreMissing()
    {
        DataFiles.WriteMnistFolder(_folder.Path, 10, 10, gzip: false);
        var images = _folder.File("t10k-images-idx3-ubyte");
        var bytes = File.ReadAllBytes(images);
        File.WriteAllBytes(images, bytes[..(bytes.Length - 100)]);

        var error = Assert.Throws<DatasetFormatException>(() => DatasetLoader.Load(new DatasetSpec("mnist", _folder.Path, 0, 1)));
        Assert.Contains(images, error.Message);
        Assert.Contains($"promises {10 * 28 * 28} data bytes, found {10 * 28 * 28 - 100}", error.Message);
    }

    [Fact]
    public void CorruptGzipIsReportedAsSuch()
    {
        DataFiles.WriteMnistFolder(_folder.Path, 10, 10, gzip: true);
        var labels = _folder.File("train-labels-idx1-ubyte.gz");
        File.WriteAllBytes(labels, File.ReadAllBytes(labels).Take(30).Concat(new byte[40]).ToArray());

        var error = Assert.Throws<DatasetFormatException>(() => DatasetLoader.Load(new DatasetSpec("mnist", _folder.Path, 0, 1)));
        Assert.Contains(labels, error.Message);
    }

    [Fact]
    public void AGzippedHeaderThatPromisesGigabytesCostsOnlyTheMemoryOfItsData()
    {
        var images = _folder.File("train-images-idx3-ubyte");
        DataFiles.Write(images, DataFiles.Idx([1, 46000, 46000], new byte[100]), gzip: true);

        var before = GC.GetAllocatedBytesForCurrentThread();
        var error = Assert.Throws<DatasetFormatException>(() => IdxReader.Read(images, 3));
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Contains("header 1 x 46000 x 46000 promises 2116000000 data bytes, found 100", error.Message);
        Assert.True(allocated < 16 << 20, $"reading allocated {allocated} bytes");
    }

    [Fact]
    public void MissingFileIsNamed()
    {
        var error = Assert.Throws<DatasetFormatException>(() => DatasetLoader.Load(new DatasetSpec("fashion-mnist", _folder.Path, 0, 1)));
        Assert.Contains("train-images-idx3-ubyte", error.Message);
        Assert.Contains("not found", error.Message);
    }

    [Fact]
    public void LabelCountMustMatchImageCount()
    {
        DataFiles.WriteMnistFolder(_folder.Path, 10, 10, gzip: false);
        DataFiles.Write(_folder.File("train-labels-idx1-ubyte"), DataFiles.Idx([9], new byte[9]), gzip: false);

        var error = Assert.Throws<DatasetFormatException>(() => DatasetLoader.Load(new DatasetSpec("mnist", _folder.Path, 0, 1)));
        Assert.Contains("has 9 labels but train-images-idx3-ubyte has 10 images", error.Message);
    }

    [Fact]
    public void CifarBinaryRecordsLoadWithLabelsAndPlanarPixels()
    {
        DataFiles.WriteCifar10Folder(_folder.Path, perFile: 12);
        using var data = DatasetLoader.Load(new DatasetSpec("cifar10", _folder.Path, 0, 1));

        Assert.Equal(60, data.Train.Count);
        Assert.Equal(12, data.Test.Count);
        Assert.Equal(new ImageShape(3, 32, 32), data.Shape);
        var labels = data.Test.LabelArray();
        Assert.Equal(Enumerable.Range(5, 12).Select(i => i % 10), labels);
        // pixel p of a record is label * 25 + p % 3: check the first three pixels of the red plane
        var red = data.Test.Images[0, 0, 0, ..3].to_type(ScalarType.Int32).data<int>().ToArray();
        Assert.Equal(new[] { labels[0] * 25, labels[0] * 25 + 1, labels[0] * 25 + 2 }, red);
    }

    [Fact]
    public void Cifar100RecordsUseTheFineLabel()
    {
        DataFiles.WriteCifar100Folder(_folder.Path, train: 30, test: 20);
        using var data = DatasetLoader.Load(new DatasetSpec("cifar100", _folder.Path, 0, 1));

        Assert.Equal((30L, 20L, 100), (data.Train.Count, data.Test.Count, data.Classes));
        var labels = data.Test.LabelArray();
        Assert.Equal(Enumerable.Range(0, 20).Select(i => (7 * i + 1) % 100), labels);
        // The green plane starts at pixel 1024, and 1024 % 3 = 1.
        var green = data.Test.Images[3, 1, 0, ..3].to_type(ScalarType.Int32).data<int>().ToArray();
        Assert.Equal(new[] { labels[3] * 2 + 1, labels[3] * 2 + 2, labels[3] * 2 }, green);
    }

    [Theory]
    [InlineData("cifar10", true)]
    [InlineData("cifar10", false)]
    [InlineData("cifar100", true)]
    public void CifarIsNormalisedWithTheReferenceConstantsOrTheComputedStatistics(string dataset, bool reference)
    {
        if (dataset == "cifar10")
            DataFiles.WriteCifar10Folder(_folder.Path, perFile: 12);
        else
            DataFiles.WriteCifar100Folder(_folder.Path, train: 30, test: 20);
        using var data = DatasetLoader.Load(new DatasetSpec(dataset, _folder.Path, 0, 1, ReferenceNormalization: reference));

        // data/cifar10.py: mean (125.307, 122.961, 113.8575) / 255, std (51.5865, 50.847, 51.255) / 255; data/cifar100.py:
        // mean (0.5071, 0.4865, 0.4409), std (0.2673, 0.2564, 0.2762).
        float[] mean = dataset == "cifar10" ? [0.491400f, 0.482200f, 0.446500f] : [0.5071f, 0.4865f, 0.4409f];
        float[] std = dataset == "cifar10" ? [0.202300f, 0.199400f, 0.201000f] : [0.2673f, 0.2564f, 0.2762f];
        using var scale = PapaActors.Models.Scalars.Of(255.0);
        using var pixels = data.Train.Images.to_type(ScalarType.Float32).div(scale);
        if (!reference)
        {
            mean = pixels.mean([0L, 2L, 3L]).data<float>().ToArray();
            std = pixels.std([0L, 2L, 3L]).data<float>().ToArray();
        }
        Assert.Equal(mean, data.Mean.view(-1).data<float>().ToArray(), (a, b) => Math.Abs(a - b) < 1e-5);
        Assert.Equal(std, data.Std.view(-1).data<float>().ToArray(), (a, b) => Math.Abs(a - b) < 1e-5);
    }

    [Fact]
    public void WithoutAHeldOutSplitTheTrainingSetStandsInForIt()
    {
        DataFiles.WriteCifar10Folder(_folder.Path, perFile: 12);
        using var data = DatasetLoader.Load(new DatasetSpec("cifar10", _folder.Path, HeldOutFraction: 0, 1));

        Assert.Equal(0, data.HeldOut.Count);
        Assert.Same(data.Train, data[DataSplit.HeldOut]);
    }

    [Fact]
    public void CifarFileOfTheWrongSizeIsRejected()
    {
        DataFiles.WriteCifar10Folder(_folder.Path, perFile: 2);
        var batch = _folder.File("data_batch_3.bin");
        File.WriteAllBytes(batch, File.ReadAllBytes(batch)[..5000]);

        var error = Assert.Throws<DatasetFormatException>(() => DatasetLoader.Load(new DatasetSpec("cifar10", _folder.Path, 0, 1)));
        Assert.Contains("data_batch_3.bin", error.Message);
        Assert.Contains("not a whole number of 3073-byte CIFAR-10 records", error.Message);
    }

    [Fact]
    public void RealFashionMnistHasItsDocumentedSizes()
    {
        using var data = DatasetLoader.Load(new DatasetSpec("fashion-mnist", "/usr/share/datasets/fashion-mnist", 0.02, Seed: 1));

        Assert.Equal(58_800, data.Train.Count);
        Assert.Equal(1_200, data.HeldOut.Count);
        Assert.Equal(10_000, data.Test.Count);
        Assert.Equal(new ImageShape(1, 28, 28), data.Shape);
        Assert.Equal(Enumerable.Repeat(1000, 10), data.Test.LabelArray().GroupBy(l => l).OrderBy(g => g.Key).Select(g => g.Count()));
    }

    [Fact]
    public void MemberBatchStreamsAreSeededPerMemberAndReshuffledEachEpoch()
    {
        using var a = new MemberBatches(trainCount: 100, batchSize: 30, seed: 7, member: 0);
        using var again = new MemberBatches(100, 30, 7, 0);
        using var other = new MemberBatches(100, 30, 7, 1);
        long[] Batch(MemberBatches b, long step) => b.IndicesFor(step).data<long>().ToArray();

        Assert.Equal(3, a.StepsPerEpoch); // 100 / 30, the partial batch is dropped
        Assert.Equal(Batch(a, 4), Batch(again, 4));
        Assert.NotEqual(Batch(a, 0), Batch(other, 0));
        Assert.NotEqual(Batch(a, 0), Batch(a, 3)); // step 3 starts epoch 1 with a new order
        var epoch = Enumerable.Range(0, 3).SelectMany(s => Batch(a, s)).ToList();
        Assert.Equal(90, epoch.Distinct().Count());
    }
}
